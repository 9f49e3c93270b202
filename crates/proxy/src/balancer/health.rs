//! Per-address runtime state shared by every balancer generation that contains the address: health with
//! lua-resty-healthcheck's counters, the in-flight count of least-connections and the latency EWMA.
//! Everything is a lock-free atomic so `pick` and `report` never block each other.

use super::config::Counters;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a request (passive) or probe (active) observed about an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// An HTTP response with this status; 0 stands for an unparsable response (counted as an HTTP failure).
    HttpStatus(u16),
    /// Connecting, sending or receiving failed.
    TcpFailure,
    /// Connecting, sending or receiving timed out.
    Timeout,
}

// Internal health as lua-resty-healthcheck keeps it: "mostly" states still route like their base state.
const HEALTHY: u64 = 0;
const MOSTLY_HEALTHY: u64 = 1;
const MOSTLY_UNHEALTHY: u64 = 2;
const UNHEALTHY: u64 = 3;

#[derive(Clone, Copy)]
enum Ctr {
    Success = 0,
    Http = 8,
    Tcp = 16,
    Timeout = 24,
}

const SUCCESS_MASK: u64 = 0xff;
const FAILURE_MASK: u64 = 0xff_ff_ff_00;
const COUNTER_MASK: u64 = 0xff_ff_ff_ff;
const HEALTH_SHIFT: u32 = 32;

/// Shared mutable state of one `ip:port`.
#[derive(Debug)]
pub(crate) struct AddrState {
    /// Bits 0..32: success/http/tcp/timeout counters (8 bits each); bits 32..34: internal health.
    health: AtomicU64,
    /// Requests currently using the address (least-connections).
    pub(crate) in_flight: AtomicU32,
    /// EWMA of response times in microseconds, stored as f64 bits.
    ewma_bits: AtomicU64,
    /// When the EWMA was last updated, microseconds since `epoch`.
    ewma_touched: AtomicU64,
    epoch: Instant,
}

/// Decay period of the latency EWMA, as Kong's `DECAY_TIME`.
const DECAY: Duration = Duration::from_secs(10);

impl AddrState {
    pub(crate) fn new() -> Arc<AddrState> {
        Arc::new(AddrState {
            health: AtomicU64::new(HEALTHY << HEALTH_SHIFT),
            in_flight: AtomicU32::new(0),
            ewma_bits: AtomicU64::new(0f64.to_bits()),
            ewma_touched: AtomicU64::new(0),
            epoch: Instant::now(),
        })
    }

    /// Whether requests may be sent here (healthy or "mostly healthy").
    pub(crate) fn is_healthy(&self) -> bool {
        (self.health.load(Ordering::Acquire) >> HEALTH_SHIFT) <= MOSTLY_HEALTHY
    }

    /// Forces a state and clears the counters (manual override, like `set_target_status`).
    pub(crate) fn force(&self, healthy: bool) {
        let health = if healthy { HEALTHY } else { UNHEALTHY };
        self.health.store(health << HEALTH_SHIFT, Ordering::Release);
    }

    /// Applies one observation with the given section's counters and thresholds.
    pub(crate) fn observe(&self, outcome: Outcome, counters: &Counters) {
        match outcome {
            Outcome::HttpStatus(status) => {
                if counters.healthy_statuses.contains(&status) {
                    self.incr(true, counters.successes, Ctr::Success);
                } else if status == 0 || counters.unhealthy_statuses.contains(&status) {
                    self.incr(false, counters.http_failures, Ctr::Http);
                }
            }
            Outcome::TcpFailure => self.incr(false, counters.tcp_failures, Ctr::Tcp),
            Outcome::Timeout => self.incr(false, counters.timeouts, Ctr::Timeout),
        }
    }

    /// A successful TCP-only probe (`report_success`).
    pub(crate) fn observe_success(&self, counters: &Counters) {
        self.incr(true, counters.successes, Ctr::Success);
    }

    /// lua-resty-healthcheck's `incr_counter`: a limit of 0 disables the counter; a success clears the
    /// failure counters and a failure clears the success counter; reaching the limit flips the state.
    fn incr(&self, toward_healthy: bool, limit: u32, ctr: Ctr) {
        if limit == 0 {
            return;
        }
        let target = if toward_healthy { HEALTHY } else { UNHEALTHY };
        let mut current = self.health.load(Ordering::Acquire);
        loop {
            let health = current >> HEALTH_SHIFT;
            if health == target {
                return;
            }
            let shift = ctr as u64;
            let value = (((current >> shift) & 0xff) + 1).min(0xff);
            let mut counters = (current & COUNTER_MASK & !(0xff << shift)) | (value << shift);
            counters &= if toward_healthy { SUCCESS_MASK } else { FAILURE_MASK };
            let new_health = if value >= u64::from(limit) {
                target
            } else if health == HEALTHY && counters & FAILURE_MASK != 0 {
                MOSTLY_HEALTHY
            } else if health == UNHEALTHY && counters & SUCCESS_MASK != 0 {
                MOSTLY_UNHEALTHY
            } else {
                health
            };
            let next = (new_health << HEALTH_SHIFT) | counters;
            match self.health.compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    if new_health != health && (new_health == HEALTHY || new_health == UNHEALTHY) {
                        tracing::debug!(healthy = toward_healthy, "balancer address health changed");
                    }
                    return;
                }
                Err(seen) => current = seen,
            }
        }
    }

    fn now_micros(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    fn decayed(&self, rtt_us: f64, now: u64) -> f64 {
        let ewma = f64::from_bits(self.ewma_bits.load(Ordering::Relaxed));
        let touched = self.ewma_touched.load(Ordering::Relaxed);
        let elapsed = now.saturating_sub(touched) as f64 / 1_000_000.0;
        let weight = (-elapsed / DECAY.as_secs_f64()).exp();
        ewma * weight + rtt_us * (1.0 - weight)
    }

    /// Current latency score in microseconds, decayed toward 0 since the last sample (Kong's
    /// `get_or_update_ewma(addr, 0, false)`), so idle addresses are tried again eventually.
    pub(crate) fn latency_score(&self) -> f64 {
        self.decayed(0.0, self.now_micros())
    }

    /// Folds one response time into the EWMA (Kong's `afterBalance`).
    pub(crate) fn record_latency(&self, rtt: Duration) {
        let now = self.now_micros();
        let ewma = self.decayed(rtt.as_secs_f64() * 1_000_000.0, now);
        self.ewma_bits.store(ewma.to_bits(), Ordering::Relaxed);
        self.ewma_touched.store(now, Ordering::Relaxed);
    }

    /// Seeds a new address with the average EWMA of the others (Kong's slow start), so it neither floods
    /// nor starves.
    pub(crate) fn seed_latency(&self, ewma_us: f64) {
        self.ewma_bits.store(ewma_us.to_bits(), Ordering::Relaxed);
        self.ewma_touched.store(self.now_micros(), Ordering::Relaxed);
    }
}

/// Holds one in-flight slot of an address for least-connections; dropping it releases the slot.
#[derive(Debug)]
pub struct InFlightGuard {
    state: Arc<AddrState>,
}

impl InFlightGuard {
    pub(crate) fn acquire(state: &Arc<AddrState>) -> InFlightGuard {
        state.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlightGuard { state: Arc::clone(state) }
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.state.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}
