//! The seed of a test run: new every run, or fixed with `DDRIVE_TEST_SEED` to replay a failure.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};

use crate::content::Prng;

/// A run's seed, printed at the start and in every failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestSeed(pub u64);

impl TestSeed {
    /// `$DDRIVE_TEST_SEED` if set, else from the clock.
    pub fn from_env() -> Result<Self> {
        let seed = match std::env::var("DDRIVE_TEST_SEED") {
            Ok(s) => s
                .trim()
                .parse()
                .with_context(|| format!("DDRIVE_TEST_SEED={s:?} is not a u64"))?,
            Err(_) => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .context("clock before 1970")?;
                now.as_secs() ^ u64::from(now.subsec_nanos()) << 20
            }
        };
        let seed = TestSeed(seed);
        eprintln!("{seed}");
        Ok(seed)
    }

    /// A stream of numbers for `purpose`, so each test draws its own values from one seed.
    pub fn rng(&self, purpose: &str) -> Prng {
        // FNV-1a over the purpose, folded with the seed; any fixed mixing works.
        let mut h: u32 = 0x811c_9dc5;
        for b in purpose.bytes() {
            h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
        let folded = (self.0 ^ (self.0 >> 32)) as u32;
        Prng::new(h ^ folded)
    }

    /// Runs a test body, adding the seed to its error.
    pub fn run(self, body: impl FnOnce(Self) -> Result<()>) -> Result<()> {
        body(self).with_context(|| format!("{self}"))
    }
}

impl fmt::Display for TestSeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "replay with DDRIVE_TEST_SEED={}", self.0)
    }
}
