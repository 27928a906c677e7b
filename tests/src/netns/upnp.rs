//! The lab's UPnP IGD: Debian's miniupnpd on a gateway, and the forwards it holds.

use std::{path::Path, process::Stdio};

use super::Lab;

impl Lab {
    /// Starts Debian's miniupnpd (nftables backend) on gateway `gw<i>`: UPnP IGD and
    /// NAT-PMP on its LAN side, mappings only for the LAN and ports ≥ 1024, to the
    /// requesting host only. Its files live in `dir`.
    pub fn miniupnpd(&mut self, i: u8, dir: &Path) {
        let conf = dir.join(format!("miniupnpd-gw{i}.conf"));
        std::fs::write(
            &conf,
            format!(
                "ext_ifname=wan\nlistening_ip=lan\nport=0\nenable_upnp=yes\n\
                 enable_natpmp=yes\nsecure_mode=yes\nsystem_uptime=yes\n\
                 uuid=3d3cec3a-8cf0-11e0-98ee-00000000000{i}\n\
                 allow 1024-65535 192.168.{i}.0/24 1024-65535\n\
                 deny 0-65535 0.0.0.0/0 0-65535\n"
            ),
        )
        .expect("write miniupnpd.conf");
        let pid = dir.join(format!("miniupnpd-gw{i}.pid"));
        let log = std::fs::File::create(dir.join(format!("miniupnpd-gw{i}.log"))).expect("log");
        let ns = self.ns(&format!("gw{i}"));
        let child = std::process::Command::new("ip")
            .args(["netns", "exec", &ns, "/usr/sbin/miniupnpd", "-d", "-f"])
            .arg(&conf)
            .arg("-P")
            .arg(&pid)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("miniupnpd starts");
        self.daemons.push(child);
    }

    /// The port forwards miniupnpd holds on gateway `gw<i>` (its nftables DNAT rules).
    pub fn forwards(&self, i: u8) -> Vec<String> {
        self.exec(
            &format!("gw{i}"),
            "nft",
            &["list", "chain", "inet", "filter", "prerouting_miniupnpd"],
        )
        .lines()
        .filter(|l| l.contains("dnat"))
        .map(|l| l.trim().to_owned())
        .collect()
    }
}
