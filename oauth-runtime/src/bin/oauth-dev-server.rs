//! `oauth-dev-server [--config FILE.toml] [--port PORT] [--key-file KEY.pem]`
//!
//! Runs the development authorization server on 127.0.0.1. Without `--config` it uses the
//! built-in demo configuration (see `DevServerConfig::demo`).

use oauth_runtime::dev::DevServerConfig;

const USAGE: &str =
    "usage: oauth-dev-server [--config FILE.toml] [--port PORT] [--key-file KEY.pem]";

fn fail(message: &str) -> ! {
    eprintln!("oauth-dev-server: {message}\n{USAGE}");
    std::process::exit(2)
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mut config_path = None;
    let mut port = None;
    let mut key_file = None;
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| fail(&format!("{arg} needs a value")))
        };
        match arg.as_str() {
            "--config" => config_path = Some(value()),
            "--port" => {
                port = Some(
                    value()
                        .parse::<u16>()
                        .unwrap_or_else(|_| fail("--port takes a number")),
                )
            }
            "--key-file" => key_file = Some(value()),
            "-h" | "--help" => {
                println!("{USAGE}");
                return;
            }
            other => fail(&format!("unknown argument {other}")),
        }
    }
    let mut config = match &config_path {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .unwrap_or_else(|e| fail(&format!("cannot read {path}: {e}")));
            DevServerConfig::from_toml(&text).unwrap_or_else(|e| fail(&format!("{path}: {e}")))
        }
        None => DevServerConfig::demo(),
    };
    if let Some(port) = port {
        config.port = port;
    }
    if let Some(key_file) = key_file {
        config.key_file = Some(key_file.into());
    }
    let summary: Vec<String> = config
        .clients
        .iter()
        .map(|c| {
            format!(
                "  client {} ({})",
                c.id,
                if c.secret.is_some() {
                    "confidential"
                } else {
                    "public"
                }
            )
        })
        .chain(config.users.iter().map(|u| match u.otp {
            Some(_) => format!(
                "  user {} (with a one-time code for MFA logins)",
                u.username
            ),
            None => format!("  user {}", u.username),
        }))
        .collect();
    let server = config
        .into_server()
        .unwrap_or_else(|e| fail(&e.to_string()));
    let handle = server
        .start()
        .await
        .unwrap_or_else(|e| fail(&e.to_string()));
    println!("issuer: {}", handle.issuer());
    println!(
        "metadata: {}/.well-known/oauth-authorization-server",
        handle.issuer()
    );
    println!("{}", summary.join("\n"));
    let _ = tokio::signal::ctrl_c().await;
}
