//! `gatehouse`: a Kong-compatible API gateway node.

use anyhow::{bail, Context as _};
use clap::{Parser, Subcommand};
use gatehouse_node::config::Config;
use gatehouse_node::{database, serve};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

/// glibc's allocator serialises threads on its arena locks under proxy load; mimalloc keeps allocation
/// thread-local (measured with `perf` while running `bench/proxy`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "gatehouse", version, about = "A Kong Gateway compatible API gateway")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a gateway node in the foreground.
    Start {
        /// Configuration file (kong.conf syntax).
        #[arg(short = 'c', long = "conf")]
        conf: Option<PathBuf>,
        /// Run pending database migrations before starting.
        #[arg(long)]
        run_migrations: bool,
    },
    /// Manage the database schema.
    Migrations {
        #[command(subcommand)]
        action: MigrationAction,
        /// Configuration file (kong.conf syntax).
        #[arg(short = 'c', long = "conf", global = true)]
        conf: Option<PathBuf>,
    },
    /// Check a configuration file: report unknown keys and bad values with their line numbers.
    Check {
        /// The file to check.
        file: Option<PathBuf>,
    },
    /// Check that a node is running and its database is reachable.
    Health {
        /// Configuration file, to find the status and admin listeners.
        #[arg(short = 'c', long = "conf")]
        conf: Option<PathBuf>,
    },
    /// Print the version.
    Version,
}

#[derive(Subcommand, Clone, Copy)]
enum MigrationAction {
    /// Create the schema on an empty database.
    Bootstrap,
    /// Run pending migrations.
    Up,
    /// Finish migrations that have a second phase (none in this version).
    Finish,
    /// List executed and pending migrations.
    Status,
    /// Drop every table Gatehouse created.
    Reset {
        /// Do not ask for confirmation.
        #[arg(short = 'y', long = "yes")]
        yes: bool,
    },
}

fn environment() -> HashMap<String, String> {
    std::env::vars().collect()
}

fn load_config(path: Option<&std::path::Path>) -> anyhow::Result<Config> {
    Config::load(path, &environment()).map_err(|e| anyhow::anyhow!("invalid configuration:\n{e}"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Version => {
            println!(
                "gatehouse {} (Kong {} compatible)",
                env!("CARGO_PKG_VERSION"),
                gatehouse_model::KONG_COMPAT_VERSION
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { file } => {
            let Some(file) = file else { bail!("usage: gatehouse check <file>") };
            match Config::load(Some(&file), &environment()) {
                Ok(config) => {
                    for warning in &config.warnings {
                        eprintln!("warning: {}: {}", warning.location, warning.message);
                    }
                    println!("configuration at {} is valid", file.display());
                    Ok(ExitCode::SUCCESS)
                }
                Err(errors) => {
                    eprintln!("{errors}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Start { conf, run_migrations } => {
            let config = load_config(conf.as_deref())?;
            serve::init_logging(&config);
            for warning in &config.warnings {
                tracing::warn!("{}: {}", warning.location, warning.message);
            }
            runtime()?.block_on(serve::start(config, run_migrations))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrations { action, conf } => {
            let config = load_config(conf.as_deref())?;
            runtime()?.block_on(migrations(config, action))
        }
        Command::Health { conf } => {
            let config = load_config(conf.as_deref())?;
            runtime()?.block_on(serve::health(&config))
        }
    }
}

async fn migrations(config: Config, action: MigrationAction) -> anyhow::Result<ExitCode> {
    let store = database::open(&config).await?;
    let state = store.migration_state().await?;
    match action {
        MigrationAction::Status => {
            println!("{}", state.to_json());
            if state.needs_bootstrap {
                eprintln!("database needs bootstrapping; run 'gatehouse migrations bootstrap'");
                return Ok(ExitCode::from(3));
            }
            if !state.pending.is_empty() {
                eprintln!("database has pending migrations; run 'gatehouse migrations up'");
                return Ok(ExitCode::from(4));
            }
            println!("database is up to date");
        }
        MigrationAction::Bootstrap => {
            if !state.needs_bootstrap {
                println!("database already bootstrapped");
                return Ok(ExitCode::SUCCESS);
            }
            report_migrations(&store.migrate_up().await?);
        }
        MigrationAction::Up => {
            if state.needs_bootstrap {
                bail!("cannot run migrations: database needs bootstrapping; run 'gatehouse migrations bootstrap'");
            }
            report_migrations(&store.migrate_up().await?);
        }
        MigrationAction::Finish => println!("no pending migrations to finish"),
        MigrationAction::Reset { yes } => {
            if !yes {
                bail!("refusing to reset the database without -y (this drops every table)");
            }
            store.reset().await?;
            println!("database successfully reset");
        }
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

fn report_migrations(ran: &[String]) {
    if ran.is_empty() {
        println!("database is already up to date");
    } else {
        for name in ran {
            println!("migrating core: {name} executed");
        }
        println!("{} migration(s) executed; database is up to date", ran.len());
    }
}
