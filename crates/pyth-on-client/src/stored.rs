//! What an account keeps on the server besides secrets: persistent packages
//! (`/api/v1/packages`) and encrypted code (`/api/v1/zk/code`).

use pyth_on_types::{AddPackageRequest, EncryptedCodeList, PackageInfo, PackageList};
use reqwest::Method;

use crate::{encode_path, Client, ClientError};

impl Client {
    /// `GET /api/v1/packages`: the lists and each language's environment.
    pub async fn list_packages(&self) -> Result<PackageList, ClientError> {
        self.get("/api/v1/packages").await
    }

    /// `POST /api/v1/packages`: adds one spec (answers once its environment is built).
    pub async fn add_package(
        &self,
        package: &str,
        language: Option<&str>,
    ) -> Result<PackageInfo, ClientError> {
        let body = AddPackageRequest {
            package: package.into(),
            language: language.map(str::to_string),
        };
        self.post("/api/v1/packages", &body).await
    }

    /// `DELETE /api/v1/packages/{name}?language=`.
    pub async fn delete_package(
        &self,
        name: &str,
        language: Option<&str>,
    ) -> Result<(), ClientError> {
        let path = format!("/api/v1/packages/{}", encode_path(name)?);
        let mut builder = self.request(Method::DELETE, &path);
        if let Some(language) = language {
            builder = builder.query(&[("language", language)]);
        }
        Self::send_empty(builder).await
    }

    /// `GET /api/v1/zk/code`: the stored programs' metadata.
    pub async fn list_zk_code(&self) -> Result<EncryptedCodeList, ClientError> {
        self.get("/api/v1/zk/code").await
    }

    /// `DELETE /api/v1/zk/code/{name}`.
    pub async fn delete_zk_code(&self, name: &str) -> Result<(), ClientError> {
        let path = format!("/api/v1/zk/code/{}", encode_path(name)?);
        Self::send_empty(self.request(Method::DELETE, &path)).await
    }
}
