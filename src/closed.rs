//! Closed sets a user picks from by name, in farm.toml or on the command line (`mode`,
//! `tls.mode`, `tls.key`, `arch`, ...). Each enum lists its names once, in `closed_set!`;
//! parsing, did-you-mean, `--help`, serde and the templates all read that one list.
//!
//! The one rule for choices: a set farm.toml can name is a `closed_set!` (checked at the key's
//! line, with a did-you-mean); a choice only the command line offers derives `clap::ValueEnum`
//! (its variants' docs are the help). Either way clap gets a type: no flag takes a string
//! list that is parsed again later.

/// What a closed set offers the code that checks a user's choice.
pub(crate) trait ClosedSet: Copy + 'static {
    const NAMES: &'static [&'static str];
    fn parse(text: &str) -> Option<Self>;
}

macro_rules! closed_set {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $($(#[$vmeta:meta])* $variant:ident = $text:literal),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),*
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),*
                }
            }
        }

        impl $crate::closed::ClosedSet for $name {
            const NAMES: &'static [&'static str] = &[$($text),*];

            fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some($name::$variant),)*
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl clap::ValueEnum for $name {
            fn value_variants<'a>() -> &'a [Self] {
                Self::ALL
            }

            fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
                Some(clap::builder::PossibleValue::new(self.as_str()))
            }
        }
    };
}

pub(crate) use closed_set;

#[cfg(test)]
mod tests {
    use super::ClosedSet;
    use crate::farm::{Arch, KeyAlgorithm, PodManagementPolicy, TlsMode};
    use crate::farm::{TolerationEffect, TolerationOperator};
    use crate::profile::Mode;

    fn round_trips<T: ClosedSet + std::fmt::Display + PartialEq + std::fmt::Debug>(all: &[T]) {
        assert_eq!(all.len(), T::NAMES.len());
        for (value, name) in all.iter().zip(T::NAMES) {
            assert_eq!(&value.to_string(), name);
            assert_eq!(T::parse(name), Some(*value));
            assert_eq!(
                T::parse(&name.to_uppercase()).filter(|_| *name != name.to_uppercase()),
                None
            );
        }
        assert_eq!(T::parse(""), None);
    }

    #[test]
    fn every_closed_set_parses_what_it_prints() {
        round_trips(Mode::ALL);
        round_trips(TlsMode::ALL);
        round_trips(KeyAlgorithm::ALL);
        round_trips(Arch::ALL);
        round_trips(PodManagementPolicy::ALL);
        round_trips(TolerationOperator::ALL);
        round_trips(TolerationEffect::ALL);
    }

    #[test]
    fn the_command_line_offers_the_same_names() {
        use clap::ValueEnum;
        let offered: Vec<String> = Arch::value_variants()
            .iter()
            .map(|a| a.to_possible_value().unwrap().get_name().to_string())
            .collect();
        assert_eq!(offered, Arch::NAMES);
    }
}
