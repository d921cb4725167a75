//! Secret source reading CyberArk accounts through the Central Credential Provider (CCP):
//! `appsettings.cyberArk.agent.json` names an account per setting, the CCP returns its
//! UserName, Content and Address. No value read here is ever logged or shown by `Debug`.

mod mapping;
mod settings;
mod source;
mod tls;

pub use mapping::{AccountProperty, MAPPING_FILE};
pub use settings::CyberArkSettings;
pub use source::CyberArkSource;
