//! The driver's count of call results, which `after_call` faults wait for:
//! the driver counts each result it receives, and the outer loop's step
//! ends when the count reaches the next such fault's call number.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// How many call results the driver has received (shared, one thread).
#[derive(Clone, Default)]
pub struct CallCount(Rc<Inner>);

#[derive(Default)]
struct Inner {
    results: Cell<u32>,
    waker: RefCell<Option<Waker>>,
}

impl CallCount {
    /// One more call result (wakes a step waiting for a count).
    pub fn bump(&self) {
        self.0.results.set(self.0.results.get() + 1);
        if let Some(waker) = self.0.waker.borrow_mut().take() {
            waker.wake();
        }
    }

    /// The results received so far.
    pub fn get(&self) -> u32 {
        self.0.results.get()
    }

    /// Ready once `nth` results were received; otherwise wakes `cx` at the
    /// next one.
    pub fn poll_reached(&self, nth: u32, cx: &mut Context<'_>) -> Poll<()> {
        if self.get() >= nth {
            Poll::Ready(())
        } else {
            *self.0.waker.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    #[test]
    fn reaches_its_number_only_after_that_many_bumps() {
        let count = CallCount::default();
        let mut cx = Context::from_waker(Waker::noop());
        assert!(count.poll_reached(2, &mut cx).is_pending());
        count.bump();
        assert!(count.poll_reached(2, &mut cx).is_pending());
        count.bump();
        assert!(count.poll_reached(2, &mut cx).is_ready());
        assert_eq!(count.get(), 2);
    }
}
