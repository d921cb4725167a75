//! Test support: local fakes of the vaults the agent reads (Azure Key Vault with its Entra ID
//! token endpoint, CyberArk's Central Credential Provider) over HTTPS with certificates made at
//! test time, and a CONNECT proxy that routes any host name to one of them.
//! Only ever a dev-dependency: nothing shipped may depend on this crate.

pub mod cyberark;
pub mod keyvault;
pub mod proxy;
mod tls;

pub use tls::TestCa;
