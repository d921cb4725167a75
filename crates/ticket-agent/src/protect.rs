//! `protect`: encrypts setting values or a whole settings file with the EncryptionCertificate,
//! for `appsettings.encrypted.agent.json`. It prints protected values only, never plain ones.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use secrecy::SecretString;
use ta_rsa::{EncryptionCertificateSettings, Protector};
use ta_settings::SettingsTree;

use crate::{Failure, config_error, work_error};

#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("what").required(true).args(["value", "file"]))]
pub struct ProtectArgs {
    /// The PKCS#12 (.pfx) certificate file; default: the EncryptionCertificate section of the
    /// configuration folder's settings.
    #[arg(long, value_name = "FILE")]
    certificate: Option<PathBuf>,
    /// The environment variable holding the certificate's password (never on the command line).
    #[arg(long, value_name = "VAR", requires = "certificate")]
    password_env: Option<String>,
    /// Values to protect; one protected string is printed per value, in order.
    #[arg(long, num_args = 1.., value_name = "V")]
    value: Vec<String>,
    /// A JSON settings file to protect whole: keys stay clear, every leaf value is protected.
    #[arg(long, value_name = "F", conflicts_with = "value")]
    file: Option<PathBuf>,
    /// Where to write the protected file (default: standard output).
    #[arg(long, value_name = "O", requires = "file")]
    output: Option<PathBuf>,
}

pub async fn run(config_dir: &Path, args: ProtectArgs) -> Result<(), Failure> {
    let protector = protector(config_dir, &args).map_err(config_error)?;
    if let Some(file) = &args.file {
        let text = std::fs::read_to_string(file)
            .map_err(|e| config_error(anyhow!("cannot read {}: {e}", file.display())))?;
        let protected = protector
            .protect_json_file(&text)
            .map_err(|e| config_error(anyhow!("{}: {e}", file.display())))?;
        match &args.output {
            Some(output) => write_atomically(output, &protected).map_err(work_error)?,
            None => say!("{protected}"),
        }
        return Ok(());
    }
    let mut stdout = std::io::stdout().lock();
    for value in &args.value {
        let protected = protector.protect_value(value).map_err(work_error)?;
        writeln!(stdout, "{protected}").map_err(work_error)?;
    }
    Ok(())
}

fn protector(config_dir: &Path, args: &ProtectArgs) -> anyhow::Result<Protector> {
    if let Some(certificate) = &args.certificate {
        let password =
            match &args.password_env {
                Some(var) => SecretString::from(std::env::var(var).map_err(|_| {
                    anyhow!("--password-env: environment variable {var} is not set")
                })?),
                None => SecretString::from(String::new()),
            };
        return Ok(Protector::from_pkcs12(certificate, &password)?);
    }
    let mut settings = SettingsTree::from_dir(config_dir)?;
    settings.apply_env(std::env::vars());
    let section: EncryptionCertificateSettings =
        settings.section("EncryptionCertificate")?.ok_or_else(|| {
            anyhow!(
                "no EncryptionCertificate section in {}: give --certificate FILE",
                config_dir.join(ta_settings::SETTINGS_FILE_NAME).display()
            )
        })?;
    Ok(Protector::from_settings(config_dir, &section)?)
}

/// Writes under a temporary name beside the target, flushes, then renames into place.
fn write_atomically(path: &Path, text: &str) -> anyhow::Result<()> {
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temporary = folder.join(format!(".{name}.{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(text.as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    };
    write().with_context(|| format!("cannot write {}", path.display())).inspect_err(|_| {
        let _ = std::fs::remove_file(&temporary);
    })
}
