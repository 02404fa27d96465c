//! How many requests may be in flight to a registry at once, lowered when it throttles
//! and raised again as requests succeed: additive increase, multiplicative decrease,
//! as TCP does with its window. One is shared by every request of a run, so a
//! throttled registry sees fewer requests at once instead of the same width retried.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, SemaphorePermit};

/// Throttles closer together than this count as one (they answer the same burst).
const SETTLE: Duration = Duration::from_millis(200);

/// The shared width.
#[derive(Debug)]
pub struct Width {
    permits: Semaphore,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// The width as a fraction, grown by 1/width per success.
    limit: f64,
    /// The whole width in circulation (permits out and available, less the debt).
    current: usize,
    /// The width it starts at, and never exceeds.
    max: usize,
    /// Permits to take out of circulation as they come back.
    debt: usize,
    /// The lowest width so far.
    lowest: usize,
    last_decrease: Option<Instant>,
}

/// A slot for one request; it goes back (or out of circulation) when dropped.
pub struct Slot<'w> {
    width: &'w Width,
    permit: Option<SemaphorePermit<'w>>,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let Some(permit) = self.permit.take() else {
            return;
        };
        let mut state = self.width.lock();
        if state.debt > 0 {
            state.debt -= 1;
            permit.forget();
        }
    }
}

impl Width {
    /// A width of `max` requests at once (at least one).
    pub fn new(max: usize) -> Self {
        let max = max.max(1);
        Self {
            permits: Semaphore::new(max),
            state: Mutex::new(State {
                limit: max as f64,
                current: max,
                max,
                debt: 0,
                lowest: max,
                last_decrease: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for a free slot.
    pub async fn acquire(&self) -> Slot<'_> {
        let permit = self
            .permits
            .acquire()
            .await
            .expect("the semaphore is never closed");
        Slot {
            width: self,
            permit: Some(permit),
        }
    }

    /// The registry throttled a request: halve the width (at least one), once per
    /// burst.
    pub fn throttled(&self) {
        let mut state = self.lock();
        let now = Instant::now();
        if state
            .last_decrease
            .is_some_and(|t| now.duration_since(t) < SETTLE)
        {
            return;
        }
        state.last_decrease = Some(now);
        let target = (state.current / 2).max(1);
        let cut = state.current - target;
        state.current = target;
        state.limit = target as f64;
        state.lowest = state.lowest.min(target);
        let forgotten = self.permits.forget_permits(cut);
        state.debt += cut - forgotten;
    }

    /// A request succeeded: grow the width by 1/width, up to the maximum.
    pub fn succeeded(&self) {
        let mut state = self.lock();
        if state.current >= state.max {
            return;
        }
        state.limit += 1.0 / state.limit;
        let want = (state.limit.floor() as usize).min(state.max);
        while state.current < want {
            state.current += 1;
            if state.debt > 0 {
                state.debt -= 1;
            } else {
                self.permits.add_permits(1);
            }
        }
    }

    /// The width now.
    pub fn current(&self) -> usize {
        self.lock().current
    }

    /// The lowest width so far, when it was ever lowered.
    pub fn lowered_to(&self) -> Option<usize> {
        let state = self.lock();
        (state.lowest < state.max).then_some(state.lowest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_on_throttling_and_grows_back_on_success() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let w = Width::new(16);
            assert_eq!(w.lowered_to(), None);
            // Eight requests in flight when the registry throttles.
            let held: Vec<Slot<'_>> =
                futures_util::future::join_all((0..8).map(|_| w.acquire())).await;
            w.throttled();
            // A second throttle of the same burst does not halve it again.
            w.throttled();
            assert_eq!(w.current(), 8);
            assert_eq!(w.lowered_to(), Some(8));
            // The eight free permits went out of circulation; the held ones come back.
            assert_eq!(w.permits.available_permits(), 0);
            drop(held);
            assert_eq!(w.permits.available_permits(), 8);
            // Additive increase: a little more than `width` successes per step.
            for _ in 0..8 {
                w.succeeded();
            }
            assert_eq!(w.current(), 8);
            w.succeeded();
            assert_eq!(w.current(), 9);
            assert_eq!(w.permits.available_permits(), 9);
            for _ in 0..1000 {
                w.succeeded();
            }
            assert_eq!(w.current(), 16, "never above the maximum");
            assert_eq!(w.lowered_to(), Some(8));
        });
    }

    #[test]
    fn never_below_one() {
        let w = Width::new(2);
        w.throttled();
        w.lock().last_decrease = None;
        w.throttled();
        assert_eq!(w.current(), 1);
        assert_eq!(w.lowered_to(), Some(1));
    }
}
