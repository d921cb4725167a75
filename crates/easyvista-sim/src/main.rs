//! `easyvista-sim`: runs the EasyVista simulator on a loopback address until interrupted, and
//! prints what a client needs to reach it.

use std::net::SocketAddr;

use anyhow::{Context, Result};
use clap::Parser;
use easyvista_sim::{Simulator, SimulatorConfig};

/// A loopback simulator of the EasyVista Service Manager REST API v1.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8480")]
    listen: SocketAddr,
    /// Number of synthetic employees, generated from their index.
    #[arg(long, default_value_t = 1_000)]
    employees: u64,
    /// The instance number in the URL.
    #[arg(long, default_value = "50004")]
    account: String,
    /// Answer 400 to searches the simulator cannot parse, instead of the whole table.
    #[arg(long)]
    strict_search: bool,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let config = SimulatorConfig {
        account: args.account,
        synthetic_employees: args.employees,
        strict_search: args.strict_search,
        ..SimulatorConfig::default()
    };
    let sim =
        Simulator::start_on(config, args.listen).await.context("cannot start the simulator")?;
    println!("base url: {}", sim.base_url());
    println!("admin:    {}_admin/", sim.server_url());
    println!("account:  {}", sim.account());
    println!("login:    {}", sim.login());
    println!("password: {}", sim.password());
    println!("token:    {}", sim.token());
    tokio::signal::ctrl_c().await.context("cannot wait for ctrl-c")?;
    sim.shutdown().await;
    Ok(())
}
