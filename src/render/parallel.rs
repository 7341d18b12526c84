//! Spreading independent work (rendering objects, parsing them back) over the machine's cores
//! with scoped threads; small farms stay on one thread, where spawning would only cost time.

use std::thread;

/// Below this many items a second thread costs more than it saves.
const MIN_PER_THREAD: usize = 64;

/// How many items each worker takes.
fn chunk_len(items: usize) -> usize {
    let cores = thread::available_parallelism().map_or(1, std::num::NonZero::get);
    items.div_ceil(cores).max(MIN_PER_THREAD)
}

/// `f` on consecutive slices of `items`, one slice per core when there are enough items; the
/// results in order.
pub fn chunks<T: Sync, R: Send>(items: &[T], f: impl Fn(&[T]) -> R + Sync) -> Vec<R> {
    let len = chunk_len(items.len());
    if items.len() <= len {
        return vec![f(items)];
    }
    thread::scope(|scope| {
        let workers: Vec<_> = items
            .chunks(len)
            .map(|part| scope.spawn(|| f(part)))
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("render workers do not panic"))
            .collect()
    })
}

/// Like `chunks`, with slices of about equal `weight` (documents differ tenfold in size, and
/// sorted by kind the big ones sit together).
pub fn weighted_chunks<T: Sync, R: Send>(
    items: &[T],
    weight: impl Fn(&T) -> usize,
    f: impl Fn(&[T]) -> R + Sync,
) -> Vec<R> {
    let cores = thread::available_parallelism().map_or(1, std::num::NonZero::get);
    if items.len() <= MIN_PER_THREAD || cores == 1 {
        return vec![f(items)];
    }
    let total: usize = items.iter().map(&weight).sum();
    let share = total.div_ceil(cores).max(1);
    let mut parts = Vec::with_capacity(cores);
    let (mut start, mut acc) = (0, 0);
    for (i, item) in items.iter().enumerate() {
        acc += weight(item);
        if acc >= share && parts.len() + 1 < cores {
            parts.push(&items[start..=i]);
            (start, acc) = (i + 1, 0);
        }
    }
    parts.push(&items[start..]);
    thread::scope(|scope| {
        let workers: Vec<_> = parts
            .into_iter()
            .map(|part| scope.spawn(|| f(part)))
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("render workers do not panic"))
            .collect()
    })
}

/// `items.iter().map(f)`, in order, across threads when there are enough items.
pub fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    chunks(items, |part| part.iter().map(&f).collect::<Vec<R>>())
        .into_iter()
        .flatten()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_order_across_threads() {
        let items: Vec<u32> = (0..1000).collect();
        assert_eq!(
            map(&items, |x| x * 2),
            items.iter().map(|x| x * 2).collect::<Vec<_>>()
        );
        assert_eq!(map(&items[..3], |x| x + 1), [1, 2, 3]);
        let sums = chunks(&items, |part| part.iter().sum::<u32>());
        assert_eq!(sums.iter().sum::<u32>(), items.iter().sum::<u32>());
        let parts = weighted_chunks(&items, |x| *x as usize, <[u32]>::to_vec);
        assert_eq!(parts.concat(), items, "every item once, in order");
    }
}
