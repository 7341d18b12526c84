//! The template environment, built once per process with every policy spelled out.

use std::sync::OnceLock;

use minijinja::syntax::SyntaxConfig;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};

use super::filters;
use super::kind::Kind;

pub(super) fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict); // a typo fails, not ""
        let syntax = SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .trim_blocks(true) // block tags take no line of their own in the output
            .lstrip_blocks(true)
            .build()
            .expect("the default delimiters are valid");
        env.set_syntax(syntax);
        // Quoting is the filters' job, not the file name's (`.yaml` would mean JSON escaping).
        env.set_auto_escape_callback(|_| AutoEscape::None);
        env.add_filter("yaml_str", filters::yaml_str);
        env.add_filter("to_yaml", filters::to_yaml);
        env.add_filter("yaml_block", filters::yaml_block);
        let partials = super::kind::PARTIALS.iter().copied();
        for (name, source) in Kind::ALL
            .iter()
            .map(|k| (k.template(), k.source()))
            .chain(partials)
        {
            env.add_template(name, source)
                .expect("embedded templates parse; covered by tests");
        }
        env
    })
}
