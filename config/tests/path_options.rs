//! The connection manager's path options and both `header_key_format`s lower to the model:
//! what is written, and Envoy's defaults (the runtime decides `normalize_path` and the
//! escaped-slashes action when they are not written).

use sluice_config::*;

mod support;

fn header_options(b: &Bootstrap, listener: &str) -> HcmHeaderOptions {
    support::hcm(b, listener).header_options.clone()
}

#[test]
fn path_options_and_header_key_formats() {
    let loaded = support::ok_fixture("path-options.yaml");
    let b = &loaded.bootstrap;

    let set = header_options(b, "set");
    assert_eq!(
        set.path,
        PathOptions {
            normalize_path: Some(true),
            merge_slashes: true,
            escaped_slashes: EscapedSlashesAction::UnescapeAndRedirect,
        }
    );
    assert_eq!(set.header_key_format, HeaderKeyFormat::ProperCaseWords);

    let defaults = header_options(b, "defaults");
    assert_eq!(
        defaults.path,
        PathOptions {
            normalize_path: Some(false),
            merge_slashes: false,
            escaped_slashes: EscapedSlashesAction::ImplementationSpecificDefault,
        }
    );
    assert_eq!(defaults.header_key_format, HeaderKeyFormat::Lower);
    assert_eq!(HcmHeaderOptions::default().path, PathOptions::default());
    assert_eq!(PathOptions::default().normalize_path, None);

    let cluster = &b.clusters[0];
    assert_eq!(
        cluster.http_protocol.header_key_format,
        HeaderKeyFormat::ProperCaseWords
    );
    assert_eq!(
        UpstreamHttpProtocol::default().header_key_format,
        HeaderKeyFormat::Lower
    );
}
