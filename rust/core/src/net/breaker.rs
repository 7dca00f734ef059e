//! The sender's circuit breaker, with the states and semantics of Python's
//! `ferrolog.errors.CircuitBreaker`: closed (deliveries run), open after `failure_threshold`
//! failed attempts in a row (none run until `recovery_timeout` passed), half-open (one probe
//! runs; its success closes the circuit, its failure opens it again).

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

/// A circuit breaker's state, as `stats` and `sink_health()` show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Deliveries run.
    Closed,
    /// Too many failures in a row: nothing is attempted (and new batches are refused) until
    /// the recovery timeout has passed.
    Open,
    /// One probe delivery runs to find out whether the peer recovered.
    HalfOpen,
}

impl BreakerState {
    /// The name Python's `CircuitState` uses: `closed`, `open`, `half_open`.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }

    pub(crate) fn from_u8(v: u8) -> BreakerState {
        match v {
            1 => BreakerState::Open,
            2 => BreakerState::HalfOpen,
            _ => BreakerState::Closed,
        }
    }

    fn to_u8(self) -> u8 {
        match self {
            BreakerState::Closed => 0,
            BreakerState::Open => 1,
            BreakerState::HalfOpen => 2,
        }
    }
}

/// Owned by the sender thread; publishes its state through `shown` for other threads.
#[derive(Debug)]
pub(crate) struct Breaker {
    threshold: u32,
    recovery: Duration,
    failures: u32,
    state: BreakerState,
    opened_at: Option<Instant>,
}

/// A transition worth reporting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transition {
    Opened,
    /// A failed probe opened it again (not reported: the outage goes on).
    Reopened,
    HalfOpened,
    Closed,
}

impl Breaker {
    pub(crate) fn new(threshold: u32, recovery: Duration) -> Self {
        Breaker {
            threshold: threshold.max(1),
            recovery,
            failures: 0,
            state: BreakerState::Closed,
            opened_at: None,
        }
    }

    #[cfg(test)]
    pub(crate) fn state(&self) -> BreakerState {
        self.state
    }

    pub(crate) fn recovery(&self) -> Duration {
        self.recovery
    }

    /// When an open breaker lets a probe through.
    pub(crate) fn probe_at(&self) -> Option<Instant> {
        match self.state {
            BreakerState::Open => self.opened_at.map(|t| t + self.recovery),
            _ => None,
        }
    }

    /// Before an attempt: an open breaker whose recovery time passed turns half-open.
    pub(crate) fn before_attempt(&mut self, shown: &AtomicU8) -> Option<Transition> {
        if self.state == BreakerState::Open && self.probe_at().is_some_and(|t| Instant::now() >= t)
        {
            self.set(BreakerState::HalfOpen, shown);
            return Some(Transition::HalfOpened);
        }
        None
    }

    pub(crate) fn success(&mut self, shown: &AtomicU8) -> Option<Transition> {
        self.failures = 0;
        if self.state != BreakerState::Closed {
            self.opened_at = None;
            self.set(BreakerState::Closed, shown);
            return Some(Transition::Closed);
        }
        None
    }

    pub(crate) fn failure(&mut self, shown: &AtomicU8) -> Option<Transition> {
        self.failures = self.failures.saturating_add(1);
        let transition = match self.state {
            BreakerState::HalfOpen => Transition::Reopened,
            BreakerState::Closed if self.failures >= self.threshold => Transition::Opened,
            _ => return None,
        };
        self.opened_at = Some(Instant::now());
        self.set(BreakerState::Open, shown);
        Some(transition)
    }

    fn set(&mut self, state: BreakerState, shown: &AtomicU8) {
        self.state = state;
        shown.store(state.to_u8(), Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_then_half_opens_and_closes() {
        let shown = AtomicU8::new(0);
        let mut b = Breaker::new(2, Duration::ZERO);
        assert_eq!(b.failure(&shown), None);
        assert_eq!(b.failure(&shown), Some(Transition::Opened));
        assert_eq!(
            BreakerState::from_u8(shown.load(Ordering::Relaxed)),
            BreakerState::Open
        );
        assert_eq!(b.before_attempt(&shown), Some(Transition::HalfOpened));
        assert_eq!(
            b.failure(&shown),
            Some(Transition::Reopened),
            "a failed probe reopens"
        );
        assert_eq!(b.before_attempt(&shown), Some(Transition::HalfOpened));
        assert_eq!(b.success(&shown), Some(Transition::Closed));
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!(b.failure(&shown), None, "the count starts again");
    }
}
