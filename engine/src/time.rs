//! Virtual time: an instant on the simulated timeline. The engine never reads
//! the wall clock; every `Time` comes from the `Clock` port.

use std::fmt;
use std::ops::{Add, Sub};
use std::time::Duration;

/// An instant, as microseconds since the Unix epoch (virtual).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Time {
    micros: i64,
}

impl Time {
    /// The zero time (Go's `time.Time{}` role: a NULL column reads as this).
    pub const ZERO: Time = Time { micros: 0 };

    /// The instant `micros` microseconds after the epoch.
    pub const fn from_micros(micros: i64) -> Time {
        Time { micros }
    }

    /// The instant `secs` seconds after the epoch.
    pub const fn from_secs(secs: i64) -> Time {
        Time {
            micros: secs * 1_000_000,
        }
    }

    /// Microseconds since the epoch.
    pub const fn as_micros(self) -> i64 {
        self.micros
    }

    /// `self - earlier`, clamped at zero.
    pub fn since(self, earlier: Time) -> Duration {
        let delta = self.micros.saturating_sub(earlier.micros);
        Duration::from_micros(delta.max(0) as u64)
    }
}

impl Add<Duration> for Time {
    type Output = Time;
    fn add(self, d: Duration) -> Time {
        Time {
            micros: self.micros.saturating_add(d.as_micros() as i64),
        }
    }
}

impl Sub<Duration> for Time {
    type Output = Time;
    fn sub(self, d: Duration) -> Time {
        Time {
            micros: self.micros.saturating_sub(d.as_micros() as i64),
        }
    }
}

impl fmt::Debug for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for Time {
    /// Seconds with millisecond precision, e.g. `1767225600.250s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let millis = self.micros.div_euclid(1000);
        write!(
            f,
            "{}.{:03}s",
            millis.div_euclid(1000),
            millis.rem_euclid(1000)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_clamps_at_zero() {
        let a = Time::from_secs(10);
        let b = Time::from_secs(12);
        assert_eq!(b.since(a), Duration::from_secs(2));
        assert_eq!(a.since(b), Duration::ZERO);
    }

    #[test]
    fn displays_seconds_with_millis() {
        assert_eq!(
            (Time::from_secs(3) + Duration::from_millis(250)).to_string(),
            "3.250s"
        );
    }
}
