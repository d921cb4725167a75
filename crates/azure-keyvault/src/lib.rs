//! Secret source reading settings from Azure Key Vault: a secret named
//! `Connections--EasyVistaManual--Password` sets `Connections:EasyVistaManual:Password`.
//! Values are secrets from the moment they arrive; none is ever logged or shown by `Debug`.

mod credential;
mod settings;
mod source;

pub use settings::{AzureEnvironment, KeyVaultSettings};
pub use source::KeyVaultSource;
