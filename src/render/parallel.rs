//! Spreading independent work (building, rendering and parsing back each pool's objects) over
//! the machine's cores with scoped threads; small inputs stay on one thread, where spawning
//! would only cost time.

use std::thread;

fn cores() -> usize {
    thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// `f` on consecutive slices of `items` (one per core, none shorter than `min_len` items),
/// each on its own thread, while `here` runs on this one; `here`'s result and `f`'s, in order.
pub fn beside<T: Sync, R: Send, H>(
    items: &[T],
    min_len: usize,
    f: impl Fn(&[T]) -> R + Sync,
    here: impl FnOnce() -> H,
) -> (H, Vec<R>) {
    let len = items.len().div_ceil(cores()).max(min_len.max(1));
    if items.len() <= len {
        return (here(), vec![f(items)]);
    }
    thread::scope(|scope| {
        let workers: Vec<_> = items
            .chunks(len)
            .map(|part| scope.spawn(|| f(part)))
            .collect();
        let mine = here();
        let theirs = workers
            .into_iter()
            .map(|w| w.join().expect("render workers do not panic"))
            .collect();
        (mine, theirs)
    })
}

/// `items.iter().map(f)`, in order, across threads when there are at least `min_len` items
/// for each.
pub fn map<T: Sync, R: Send>(items: &[T], min_len: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let map_part = |part: &[T]| part.iter().map(&f).collect::<Vec<R>>();
    let ((), parts) = beside(items, min_len, map_part, || ());
    parts.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_order_across_threads() {
        let items: Vec<u32> = (0..1000).collect();
        assert_eq!(
            map(&items, 1, |x| x * 2),
            items.iter().map(|x| x * 2).collect::<Vec<_>>()
        );
        assert_eq!(map(&items[..3], 64, |x| x + 1), [1, 2, 3]);
        let (here, parts) = beside(&items, 10, <[u32]>::to_vec, || "here");
        assert_eq!(here, "here");
        assert_eq!(parts.concat(), items, "every item once, in order");
        if cores() > 1 {
            assert_eq!(parts.len(), cores());
        }
    }

    #[test]
    fn small_inputs_stay_in_one_slice() {
        let items = [1, 2, 3];
        let ((), parts) = beside(&items, 4, <[i32]>::to_vec, || ());
        assert_eq!(parts, [vec![1, 2, 3]]);
        let ((), parts) = beside(&[] as &[i32], 4, <[i32]>::len, || ());
        assert_eq!(parts, [0]);
    }
}
