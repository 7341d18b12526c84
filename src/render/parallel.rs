//! Spreading independent work (building, rendering and parsing back each pool's objects) over
//! the machine's cores with scoped threads; small inputs stay on one thread, where spawning
//! would only cost time.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

fn cores() -> usize {
    thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// `here` on this thread, and `f` on each slice of `len` items of `items`, the slices taken in
/// turn by this thread (once `here` is done) and, when there are several, by one more thread
/// per further core, so a slow slice never leaves a core idle. `here`'s result, and `f`'s in
/// the order of the slices. A single slice stays on this thread: starting a thread would cost
/// more than it saves.
pub(super) fn beside<T: Sync, R: Send, H>(
    items: &[T],
    len: usize,
    f: impl Fn(&[T]) -> R + Sync,
    here: impl FnOnce() -> H,
) -> (H, Vec<R>) {
    let parts: Vec<&[T]> = items.chunks(len.max(1)).collect();
    let helpers = cores().min(parts.len()).saturating_sub(1);
    if helpers == 0 {
        return (here(), parts.into_iter().map(f).collect());
    }
    let next = AtomicUsize::new(0);
    let take = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(part) = parts.get(i) else {
                return done;
            };
            done.push((i, f(part)));
        }
    };
    let (mine, mut done) = thread::scope(|scope| {
        let workers: Vec<_> = (0..helpers).map(|_| scope.spawn(take)).collect();
        let mine = here();
        let mut done = take();
        for worker in workers {
            done.extend(worker.join().expect("render workers do not panic"));
        }
        (mine, done)
    });
    done.sort_unstable_by_key(|(i, _)| *i);
    (mine, done.into_iter().map(|(_, r)| r).collect())
}

/// `items.iter().map(f)`, in order, across threads in slices of `len` items.
pub(super) fn map<T: Sync, R: Send>(items: &[T], len: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let map_part = |part: &[T]| part.iter().map(&f).collect::<Vec<R>>();
    let ((), parts) = beside(items, len, map_part, || ());
    parts.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_order_across_threads() {
        let items: Vec<u32> = (0..1000).collect();
        assert_eq!(
            map(&items, 7, |x| x * 2),
            items.iter().map(|x| x * 2).collect::<Vec<_>>()
        );
        let (here, parts) = beside(&items, 10, <[u32]>::to_vec, || "here");
        assert_eq!(here, "here");
        assert_eq!(parts.len(), 100);
        assert_eq!(parts.concat(), items, "every item once, in order");
    }

    #[test]
    fn uneven_slices_are_shared_out() {
        // One slow slice: the others still all get done, by whichever thread is free.
        let items: Vec<u64> = (0..64).collect();
        let slow = |part: &[u64]| {
            if part[0] == 0 {
                thread::sleep(std::time::Duration::from_millis(20));
            }
            (thread::current().id(), part.to_vec())
        };
        let ((), parts) = beside(&items, 1, slow, || ());
        let values: Vec<u64> = parts.iter().flat_map(|(_, p)| p.clone()).collect();
        assert_eq!(values, items);
        if cores() > 1 {
            let slow_thread = parts[0].0;
            let others = parts.iter().filter(|(id, _)| *id != slow_thread).count();
            assert!(others > 32, "the free thread took most slices: {others}");
        }
    }

    #[test]
    fn small_inputs_and_empty_ones() {
        let ((), parts) = beside(&[1, 2, 3], 4, <[i32]>::to_vec, || ());
        assert_eq!(parts, [vec![1, 2, 3]]);
        let (here, parts) = beside(&[] as &[i32], 4, <[i32]>::len, || 5);
        assert_eq!((here, parts), (5, vec![]));
        assert_eq!(map(&[] as &[i32], 1, |x| x + 1), Vec::<i32>::new());
    }
}
