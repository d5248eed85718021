//! The HttpConnectionManager's downstream timeouts lower to `HcmTimeouts`, with Envoy's
//! defaults when absent and `0s` meaning disabled.

use std::time::Duration;

use sluice_config::*;

mod support;

fn timeouts(b: &Bootstrap, listener: &str) -> HcmTimeouts {
    support::hcm(b, listener).timeouts
}

#[test]
fn hcm_timeouts() {
    let loaded = support::ok_fixture("hcm-timeouts.yaml");
    let b = &loaded.bootstrap;
    let s = Duration::from_secs;
    assert_eq!(
        timeouts(b, "set"),
        HcmTimeouts {
            idle: Some(s(120)),
            stream_idle: Some(s(30)),
            request: Some(s(10)),
            request_headers: Some(s(2)),
            max_connection_duration: Some(s(600)),
            drain: s(5),
            delayed_close: Some(Duration::from_millis(500)),
        }
    );
    assert_eq!(
        timeouts(b, "disabled"),
        HcmTimeouts {
            idle: None,
            stream_idle: None,
            request: None,
            request_headers: None,
            max_connection_duration: None,
            drain: s(5),
            delayed_close: None,
        }
    );
    let defaults = timeouts(b, "defaults");
    assert_eq!(defaults, HcmTimeouts::default());
    assert_eq!(defaults.idle, Some(s(3600)));
    assert_eq!(defaults.stream_idle, Some(s(300)));
    assert_eq!(defaults.drain, s(5));
    assert_eq!(defaults.delayed_close, Some(s(1)));
    assert_eq!(defaults.request, None);
}
