//! Processes inside a lab's namespaces: `webkad serve`, one-shot `webkad` runs and HTTP
//! requests made from there.

use std::process::Stdio;

use tokio::process::Command;

use super::Lab;
use crate::{Output, STEP, ServeProcess, webkad_bin, webkad_with, within};

impl Lab {
    /// `webkad serve <args>` inside namespace `name`.
    pub async fn serve(&self, name: &str, args: &[&str]) -> ServeProcess {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.ns(name)])
            .arg(webkad_bin());
        ServeProcess::start_with(command, args).await
    }

    /// `webkad <args>` inside namespace `name`, to completion (bounded).
    pub async fn webkad(&self, name: &str, args: &[&str]) -> Output {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.ns(name)])
            .arg(webkad_bin());
        webkad_with(command, args, &format!("webkad {args:?} in {name}")).await
    }

    /// GET `path` from the HTTP server at `host:port` inside namespace `name` (bash's
    /// /dev/tcp, so nothing but bash is needed there); answers the body of a 200.
    pub async fn http_get(&self, name: &str, host_port: &str, path: &str) -> String {
        let (host, port) = host_port.split_once(':').expect("host:port");
        let script = format!(
            "exec 3<>/dev/tcp/{host}/{port} && \
             printf 'GET {path} HTTP/1.1\\r\\nHost: {host}\\r\\nConnection: close\\r\\n\\r\\n' >&3 && \
             cat <&3"
        );
        let run = Command::new("ip")
            .args(["netns", "exec", &self.ns(name), "bash", "-c", &script])
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output();
        let out = within("http get in a namespace", run)
            .await
            .expect("bash runs");
        let response = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            response.starts_with("HTTP/1.1 200"),
            "GET {path} in {name}: {response}"
        );
        response
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_owned())
            .unwrap_or_default()
    }

    /// Polls `GET /api/nat` of the node at `host_port` in `name` until `accept` holds
    /// (bounded by [`STEP`]); answers that JSON.
    pub async fn wait_nat(
        &self,
        name: &str,
        host_port: &str,
        accept: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let mut last = serde_json::Value::Null;
        let poll = async {
            loop {
                let body = self.http_get(name, host_port, "/api/nat").await;
                last = serde_json::from_str(&body).expect("/api/nat is JSON");
                if accept(&last) {
                    return last.clone();
                }
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
        };
        match tokio::time::timeout(STEP, poll).await {
            Ok(value) => value,
            Err(_) => panic!("{name}: /api/nat never matched within {STEP:?}; last: {last:#}"),
        }
    }
}
