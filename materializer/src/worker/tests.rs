use std::time::Duration;

use super::pause;
use crate::MaterializerConfig;

#[test]
fn the_pause_grows_with_the_batch() {
    let config = MaterializerConfig {
        min_interval: Duration::from_millis(16),
        fill: 5,
        ..MaterializerConfig::default()
    };
    // A lone publish is materialized right after the previous one.
    assert_eq!(pause(&config, 1), Duration::ZERO);
    assert_eq!(pause(&config, 2), Duration::from_micros(3_200));
    assert_eq!(pause(&config, 5), Duration::from_micros(12_800));
    // Beyond `fill`, the whole interval.
    assert_eq!(pause(&config, 6), Duration::from_millis(16));
    assert_eq!(pause(&config, 4096), Duration::from_millis(16));
    let zero = MaterializerConfig { fill: 0, ..config };
    assert_eq!(pause(&zero, 3), Duration::from_millis(16));
}
