//! `webkad_webrtc_attempts_shed_total{reason}`: the WebRTC-direct connection attempts our
//! listener refused at its limits or let expire (`webkad_webrtc_direct::native::shed`),
//! read on each scrape.

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::counter::ConstCounter,
    registry::Registry,
};
use webkad_webrtc_direct::native::shed::SHED;

/// Reads the listener's shed counts at scrape time.
#[derive(Debug, Default)]
pub struct WebRtcShedCollector;

impl WebRtcShedCollector {
    /// Adds the collector to `registry`.
    pub fn register(registry: &mut Registry) {
        registry.register_collector(Box::new(Self));
    }
}

impl Collector for WebRtcShedCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut metric = encoder.encode_descriptor(
            "webkad_webrtc_attempts_shed",
            "WebRTC-direct connection attempts (STUN requests for a new ufrag) refused at a limit or expired, by reason",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for (reason, count) in SHED.counts() {
            let labels = [("reason", reason.label())];
            ConstCounter::new(count).encode(metric.encode_family(&labels)?)?;
        }
        Ok(())
    }
}
