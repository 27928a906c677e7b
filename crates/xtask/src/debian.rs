//! Debian packages the checks need (browsers, promtool, network tools), installed with
//! apt-get only when a file they provide is missing.

use std::path::Path;

use anyhow::Result;

use crate::cmd::{program, run_step, stdout_of};

/// A Debian package and a file that proves it is installed.
#[derive(Debug, Clone, Copy)]
pub struct Package {
    /// The package name, as apt-get takes it.
    pub name: &'static str,
    /// A file the package installs.
    pub provides: &'static str,
}

/// Chromium and its WebDriver, for the page tests.
pub const CHROMIUM: [Package; 2] = [
    Package {
        name: "chromium",
        provides: "/usr/bin/chromium",
    },
    Package {
        name: "chromium-driver",
        provides: "/usr/bin/chromedriver",
    },
];

/// promtool, which lints a `/metrics` scrape (`promtool check metrics`).
pub const PROMTOOL: Package = Package {
    name: "prometheus",
    provides: "/usr/bin/promtool",
};

/// The NAT tests' network tools: iproute2 (`ip netns`, veth, bridges), nftables for the
/// gateways' NAT and firewall, and miniupnpd (its nftables build) as the UPnP IGD.
pub const NETWORK: [Package; 3] = [
    Package {
        name: "iproute2",
        provides: "/usr/sbin/ip",
    },
    Package {
        name: "nftables",
        provides: "/usr/sbin/nft",
    },
    Package {
        name: "miniupnpd-nftables",
        provides: "/usr/sbin/miniupnpd",
    },
];

/// Installs (in one apt-get run) those of `packages` whose file is missing. Uses `sudo`
/// when not running as root.
pub fn ensure(what: &str, packages: &[Package]) -> Result<()> {
    let missing: Vec<&str> = packages
        .iter()
        .filter(|p| !Path::new(p.provides).exists())
        .map(|p| p.name)
        .collect();
    if missing.is_empty() {
        eprintln!("==> {what}: present");
        return Ok(());
    }
    let is_root = stdout_of(&mut program("id", &["-u"])).is_some_and(|uid| uid.trim() == "0");
    let apt = |args: &[&str]| {
        let mut command = if is_root {
            program("apt-get", args)
        } else {
            let mut command = program("sudo", &["apt-get"]);
            command.args(args);
            command
        };
        command.env("DEBIAN_FRONTEND", "noninteractive");
        command
    };
    run_step("update apt package lists", &mut apt(&["update"]))?;
    let mut args = vec!["install", "-y", "--no-install-recommends"];
    args.extend(&missing);
    run_step(&format!("install {what}"), &mut apt(&args))
}
