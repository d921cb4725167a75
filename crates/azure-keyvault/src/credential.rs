//! Which Entra ID identity reads the vault: the connection string when set, otherwise the
//! usual chain (client secret → workload identity → managed identity → developer tools).
//! Never logs a token, a client secret or the connection string.

use std::fmt;
use std::sync::{Arc, Mutex};

use azure_core::credentials::{AccessToken, Secret, TokenCredential, TokenRequestOptions};
use azure_core::http::ClientOptions;
use azure_identity::{
    ClientAssertionCredentialOptions, ClientSecretCredential, ClientSecretCredentialOptions,
    DeveloperToolsCredential, ManagedIdentityCredential, ManagedIdentityCredentialOptions,
    UserAssignedId, WorkloadIdentityCredential, WorkloadIdentityCredentialOptions,
};
use secrecy::{ExposeSecret, SecretString};

use crate::settings::AzureEnvironment;

/// A problem with the identity settings, naming the setting or variable concerned.
pub(crate) struct CredentialError {
    pub setting: &'static str,
    pub reason: String,
}

/// Builds the credential. `client_options` carries the transport and the authority host.
pub(crate) fn credential(
    connection_string: Option<&SecretString>,
    environment: &AzureEnvironment,
    client_options: ClientOptions,
) -> Result<Arc<dyn TokenCredential>, CredentialError> {
    if let Some(connection_string) = connection_string {
        return from_connection_string(connection_string, client_options);
    }

    let sdk_error = |setting: &'static str| {
        move |e: azure_core::Error| CredentialError {
            setting,
            reason: format!("cannot set up the credential: {e}"),
        }
    };
    if let Some(secret) = &environment.client_secret {
        let (tenant, client) = tenant_and_client(environment, "AZURE_CLIENT_SECRET")?;
        let credential = ClientSecretCredential::new(
            &tenant,
            client,
            Secret::from(secret.expose_secret().to_string()),
            Some(ClientSecretCredentialOptions { client_options }),
        )
        .map_err(sdk_error("AZURE_CLIENT_SECRET"))?;
        return Ok(credential);
    }
    if let Some(token_file) = &environment.federated_token_file {
        let (tenant, client) = tenant_and_client(environment, "AZURE_FEDERATED_TOKEN_FILE")?;
        let credential = WorkloadIdentityCredential::new(Some(WorkloadIdentityCredentialOptions {
            credential_options: ClientAssertionCredentialOptions { client_options },
            client_id: Some(client),
            tenant_id: Some(tenant),
            token_file_path: Some(token_file.clone()),
        }))
        .map_err(sdk_error("AZURE_FEDERATED_TOKEN_FILE"))?;
        return Ok(credential);
    }

    // Nothing configured explicitly: whichever of these yields a token first is used.
    let managed = ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions {
        user_assigned_id: environment.client_id.clone().map(UserAssignedId::ClientId),
        client_options,
    }))
    .map_err(sdk_error("AzureKeyVault:Vault"))?;
    let developer =
        DeveloperToolsCredential::new(None).map_err(sdk_error("AzureKeyVault:Vault"))?;
    Ok(Arc::new(FirstThatWorks {
        links: vec![("managed identity", managed), ("developer tools (az, azd)", developer)],
        chosen: Mutex::new(None),
    }))
}

fn tenant_and_client(
    environment: &AzureEnvironment,
    by: &'static str,
) -> Result<(String, String), CredentialError> {
    match (&environment.tenant_id, &environment.client_id) {
        (Some(tenant), Some(client)) => Ok((tenant.clone(), client.clone())),
        (None, _) => Err(CredentialError {
            setting: "AZURE_TENANT_ID",
            reason: format!("required when {by} is set"),
        }),
        (_, None) => Err(CredentialError {
            setting: "AZURE_CLIENT_ID",
            reason: format!("required when {by} is set"),
        }),
    }
}

/// Identity Manager 6.1's `ConnectionString`, limited to the forms that need no Windows
/// certificate store.
fn from_connection_string(
    connection_string: &SecretString,
    client_options: ClientOptions,
) -> Result<Arc<dyn TokenCredential>, CredentialError> {
    let fail = |reason: &str| CredentialError {
        setting: "AzureKeyVault:ConnectionString",
        reason: reason.into(),
    };
    let mut run_as = None;
    let (mut app_id, mut tenant_id, mut app_key) = (None, None, None);
    for pair in connection_string.expose_secret().split(';').filter(|pair| !pair.trim().is_empty())
    {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(fail("expected Key=Value pairs separated by ;"));
        };
        let value = value.trim().trim_start_matches('{').trim_end_matches('}').to_string();
        match key.trim().to_ascii_lowercase().as_str() {
            "runas" => run_as = Some(value),
            "appid" => app_id = Some(value),
            "tenantid" => tenant_id = Some(value),
            "appkey" => app_key = Some(value),
            "certificatethumbprint"
            | "certificatesubjectname"
            | "keyvaultcertificatesecretidentifier" => {
                return Err(fail(
                    "certificate-based forms are not supported; use AppKey or a managed identity",
                ));
            }
            _ => return Err(fail("unknown key; expected RunAs, AppId, TenantId, AppKey")),
        }
    }
    if !run_as.is_some_and(|run_as| run_as.eq_ignore_ascii_case("App")) {
        return Err(fail(
            "only RunAs=App is supported; leave the setting empty to use the environment chain",
        ));
    }

    let sdk_error = |e: azure_core::Error| fail(&format!("cannot set up the credential: {e}"));
    match (app_key, app_id, tenant_id) {
        (Some(key), Some(app_id), Some(tenant)) => ClientSecretCredential::new(
            &tenant,
            app_id,
            Secret::from(key),
            Some(ClientSecretCredentialOptions { client_options }),
        )
        .map(|c| c as Arc<dyn TokenCredential>)
        .map_err(sdk_error),
        (Some(_), _, _) => Err(fail("AppKey needs AppId and TenantId")),
        (None, app_id, _) => {
            ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions {
                user_assigned_id: app_id.map(UserAssignedId::ClientId),
                client_options,
            }))
            .map(|c| c as Arc<dyn TokenCredential>)
            .map_err(sdk_error)
        }
    }
}

/// Tries each credential in order; the first that yields a token is kept for later calls.
struct FirstThatWorks {
    links: Vec<(&'static str, Arc<dyn TokenCredential>)>,
    chosen: Mutex<Option<usize>>,
}

impl fmt::Debug for FirstThatWorks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.links.iter().map(|(name, _)| *name).collect();
        f.debug_struct("FirstThatWorks").field("links", &names).finish()
    }
}

#[async_trait::async_trait]
impl TokenCredential for FirstThatWorks {
    async fn get_token(
        &self,
        scopes: &[&str],
        options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        let chosen = *self.chosen.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(index) = chosen {
            return self.links[index].1.get_token(scopes, options).await;
        }

        let mut failures = Vec::new();
        for (index, (name, credential)) in self.links.iter().enumerate() {
            match credential.get_token(scopes, options.clone()).await {
                Ok(token) => {
                    tracing::info!(credential = name, "Azure credential chosen for Key Vault");
                    *self.chosen.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) =
                        Some(index);
                    return Ok(token);
                }
                Err(e) => failures.push(format!("{name}: {e}")),
            }
        }
        Err(azure_core::Error::with_message(
            azure_core::error::ErrorKind::Credential,
            format!(
                "no Azure credential yielded a token (set AZURE_TENANT_ID, AZURE_CLIENT_ID and \
                 AZURE_CLIENT_SECRET, or run on an Azure host with a managed identity): {}",
                failures.join("; ")
            ),
        ))
    }
}
