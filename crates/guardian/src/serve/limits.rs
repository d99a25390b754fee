//! How often the public may post: per client (an IPv4 address or an IPv6 /64), new reports and
//! replies each within their own hourly limit, and new reports from everyone within a limit per
//! minute. Only what is accepted counts: a refused post (a bad field, a wrong token) costs the
//! client nothing, and the server's own limits cannot be spent by posting garbage.
//!
//! A sliding window per key, in memory: a restart forgets it, which costs an attacker one window
//! at most. Sixty lines here rather than tower_governor, whose token bucket (with governor and
//! dashmap) answers a different question than "at most N accepted posts per hour", and counts
//! before the handler knows whether the post is accepted.

use std::{
    collections::{HashMap, VecDeque},
    net::{IpAddr, Ipv4Addr},
    sync::Mutex,
    time::{Duration, Instant},
};

use crate::config::BountySettings;

/// At most `limit` counted events per key within any `window`.
pub(crate) struct RateLimiter {
    limit: usize,
    window: Duration,
    seen: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

impl RateLimiter {
    pub(crate) fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit: limit as usize,
            window,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// How long until `key` may post again; `None` when it may now. Counts nothing.
    pub(crate) fn wait(&self, key: IpAddr, now: Instant) -> Option<Duration> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        self.forget(&mut seen, now);
        let times = seen.get(&key)?;
        (times.len() >= self.limit).then(|| {
            let oldest = times.front().copied().unwrap_or(now);
            self.window.saturating_sub(now.duration_since(oldest))
        })
    }

    /// Counts one accepted post of `key`.
    pub(crate) fn count(&self, key: IpAddr, now: Instant) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        self.forget(&mut seen, now);
        seen.entry(key).or_default().push_back(now);
    }

    /// Forgets keys whose window has passed, so memory stays bounded by recent clients.
    fn forget(&self, seen: &mut HashMap<IpAddr, VecDeque<Instant>>, now: Instant) {
        let window = self.window;
        seen.retain(|_, times| {
            while times
                .front()
                .is_some_and(|t| now.duration_since(*t) >= window)
            {
                times.pop_front();
            }
            !times.is_empty()
        });
    }
}

/// What a post is, for its limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Post {
    /// A new report.
    Report,
    /// A reply in a report's thread.
    Reply,
}

/// The key every new report shares for the limit per minute.
const EVERYONE: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

/// Every limit of the public routes.
pub(crate) struct PostLimits {
    reports: RateLimiter,
    replies: RateLimiter,
    everyone: RateLimiter,
}

/// Why a post is refused for now.
pub(crate) struct Refusal {
    /// How long until it may be posted.
    pub(crate) wait: Duration,
    /// What to tell the client.
    pub(crate) message: String,
}

impl PostLimits {
    pub(crate) fn new(settings: &BountySettings) -> Self {
        let hour = Duration::from_secs(3600);
        Self {
            reports: RateLimiter::new(settings.rate_limit_per_hour, hour),
            replies: RateLimiter::new(settings.replies_per_hour, hour),
            everyone: RateLimiter::new(settings.reports_per_minute, Duration::from_secs(60)),
        }
    }

    /// Whether `client` may make `post` now.
    pub(crate) fn check(&self, client: IpAddr, post: Post, now: Instant) -> Result<(), Refusal> {
        let mine = match post {
            Post::Report => &self.reports,
            Post::Reply => &self.replies,
        };
        if let Some(wait) = mine.wait(client, now) {
            return Err(Refusal {
                wait,
                message: "too many requests from this address: try again later".into(),
            });
        }
        if post == Post::Report
            && let Some(wait) = self.everyone.wait(EVERYONE, now)
        {
            return Err(Refusal {
                wait,
                message: "the desk is taking many reports at once: try again in a minute".into(),
            });
        }
        Ok(())
    }

    /// Counts `client`'s accepted `post`.
    pub(crate) fn accepted(&self, client: IpAddr, post: Post, now: Instant) {
        match post {
            Post::Report => {
                self.reports.count(client, now);
                self.everyone.count(EVERYONE, now);
            }
            Post::Reply => self.replies.count(client, now),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_slides_and_counts_only_what_is_counted() {
        let limiter = RateLimiter::new(2, Duration::from_secs(60));
        let ip: IpAddr = [127, 0, 0, 1].into();
        let other: IpAddr = [127, 0, 0, 2].into();
        let t0 = Instant::now();
        // Asking is free.
        for _ in 0..5 {
            assert_eq!(limiter.wait(ip, t0), None);
        }
        limiter.count(ip, t0);
        limiter.count(ip, t0 + Duration::from_secs(10));
        assert_eq!(
            limiter.wait(ip, t0 + Duration::from_secs(20)),
            Some(Duration::from_secs(40))
        );
        assert_eq!(limiter.wait(other, t0 + Duration::from_secs(20)), None);
        assert_eq!(limiter.wait(ip, t0 + Duration::from_secs(61)), None);
    }

    #[test]
    fn reports_replies_and_everyone_have_their_own_limits() {
        let settings = BountySettings {
            rate_limit_per_hour: 2,
            replies_per_hour: 1,
            reports_per_minute: 3,
            ..BountySettings::default()
        };
        let limits = PostLimits::new(&settings);
        let t0 = Instant::now();
        let a: IpAddr = [192, 0, 2, 1].into();
        let b: IpAddr = [192, 0, 2, 2].into();
        limits.accepted(a, Post::Report, t0);
        limits.accepted(a, Post::Report, t0);
        assert!(limits.check(a, Post::Report, t0).is_err());
        // Replies are counted apart from reports.
        assert!(limits.check(a, Post::Reply, t0).is_ok());
        limits.accepted(a, Post::Reply, t0);
        assert!(limits.check(a, Post::Reply, t0).is_err());
        // Everyone's third report in the minute fills the desk: b, which posted nothing, waits.
        assert!(limits.check(b, Post::Report, t0).is_ok());
        limits.accepted(b, Post::Report, t0);
        let refused = limits.check(b, Post::Report, t0).expect_err("desk full");
        assert_eq!(refused.wait, Duration::from_secs(60));
        assert!(limits.check(b, Post::Reply, t0).is_ok());
        assert!(
            limits
                .check(b, Post::Report, t0 + Duration::from_secs(60))
                .is_ok()
        );
    }
}
