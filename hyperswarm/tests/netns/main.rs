//! Tests inside network namespaces this binary creates (and deletes, on
//! success, failure or panic): LAN discovery over real multicast, and a
//! holepunch through a relay between two peers behind simulated NATs.
//!
//! Needs root and iproute2 (`ip`); the holepunch also needs iptables. When
//! they are missing, the tests are reported as ignored with the reason. The
//! same binary, started inside a namespace with `HS_NETNS_ROLE` set, plays
//! one peer of a test instead of running the harness.
//!
//! `cargo test -p hyperswarm --test netns` (add `--features interop` for
//! the Node case).

mod holepunch;
mod lan;
mod sandbox;

use libtest_mimic::{Arguments, Failed, Trial};

/// A test: its name, body, the tools it needs, and why it is off (if so).
type NetnsTest = (
    &'static str,
    fn() -> anyhow::Result<()>,
    &'static [&'static str],
    Option<&'static str>,
);

fn main() {
    if let Ok(role) = std::env::var("HS_NETNS_ROLE") {
        let r = match role.as_str() {
            "lan-ddrive" => lan::ddrive_role(),
            "hp-relay" => holepunch::relay_role(),
            "hp-announcer" => holepunch::announcer_role(),
            "hp-dialer" => holepunch::dialer_role(),
            other => Err(anyhow::anyhow!("unknown role {other}")),
        };
        if let Err(e) = r {
            eprintln!("{role}: {e:#}");
            std::process::exit(1);
        }
        return;
    }

    let args = Arguments::from_args();
    let tests: [NetnsTest; 3] = [
        (
            "lan_two_ddrive_swarms_find_each_other",
            lan::two_ddrive_swarms_find_each_other,
            &["ip"],
            None,
        ),
        (
            "lan_node_and_ddrive_find_each_other",
            lan::node_and_ddrive_find_each_other,
            &["ip", "node"],
            (!cfg!(feature = "interop")).then_some("needs --features interop (Node hyperswarm)"),
        ),
        (
            "holepunch_through_a_relay_between_two_nats",
            holepunch::through_a_relay_between_two_nats,
            &["ip", "iptables"],
            None,
        ),
    ];
    let mut trials = Vec::new();
    for (name, f, tools, off) in tests {
        let reason = off
            .map(str::to_owned)
            .or_else(|| sandbox::skip_reason(tools));
        if let Some(r) = &reason {
            // shown whatever the capture settings: the harness only prints
            // "ignored"
            eprintln!("netns: {name} ignored at run time: {r}");
        }
        let ignored = reason.is_some();
        trials.push(
            Trial::test(name, move || match &reason {
                Some(r) => Err(Failed::from(format!("cannot run here: {r}"))),
                None => f().map_err(|e| Failed::from(format!("{e:#}"))),
            })
            .with_ignored_flag(ignored),
        );
    }
    libtest_mimic::run(&args, trials).exit();
}
