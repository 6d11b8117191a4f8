//! The caller's own account (`/api/v1/me/...`: settings, password, sign-ins, deletion) and
//! administration (`/api/v1/admin/...`: accounts and invitations).

use pyth_on_types::{
    AccountSettings, AdminCreateUser, AdminCreatedUser, AdminUserList, AuthResponse,
    DeleteAccountRequest, InvitationCreated, InvitationList, InvitationRequest,
    PasswordChangeRequest, QuotaOverrides, RegisterRequest, SetRoleRequest, SignInList, UserInfo,
    UserQuota, UserRole,
};
use reqwest::Method;
use uuid::Uuid;

use crate::{Client, ClientError};

impl Client {
    /// `POST /api/register` with an invitation code (for a server in `invite` mode).
    pub async fn register_invited(
        &self,
        email: &str,
        password: &str,
        invitation: &str,
    ) -> Result<AuthResponse, ClientError> {
        let body = RegisterRequest {
            email: email.into(),
            password: password.into(),
            invitation: Some(invitation.into()),
        };
        self.post("/api/register", &body).await
    }

    /// `PUT /api/v1/me/settings`.
    pub async fn set_account_settings(
        &self,
        settings: &AccountSettings,
    ) -> Result<UserInfo, ClientError> {
        let builder = self.request(Method::PUT, "/api/v1/me/settings");
        Self::send(builder.json(settings)).await
    }

    /// `POST /api/v1/me/password`: every other sign-in ends.
    pub async fn change_password(&self, current: &str, new: &str) -> Result<(), ClientError> {
        let body = PasswordChangeRequest {
            current_password: current.into(),
            new_password: new.into(),
        };
        let builder = self.request(Method::POST, "/api/v1/me/password");
        Self::send_empty(builder.json(&body)).await
    }

    /// `GET /api/v1/me/sign-ins`.
    pub async fn sign_ins(&self) -> Result<SignInList, ClientError> {
        self.get("/api/v1/me/sign-ins").await
    }

    /// `DELETE /api/v1/me/sign-ins/{id}`.
    pub async fn revoke_sign_in(&self, id: Uuid) -> Result<(), ClientError> {
        let path = format!("/api/v1/me/sign-ins/{id}");
        Self::send_empty(self.request(Method::DELETE, &path)).await
    }

    /// `DELETE /api/v1/me`: deletes the caller's account and everything of it.
    pub async fn delete_account(&self, password: &str) -> Result<(), ClientError> {
        let body = DeleteAccountRequest {
            password: password.into(),
        };
        Self::send_empty(self.request(Method::DELETE, "/api/v1/me").json(&body)).await
    }

    /// `GET /api/v1/admin/users` (one page).
    pub async fn admin_users(
        &self,
        after: Option<Uuid>,
        limit: Option<u32>,
    ) -> Result<AdminUserList, ClientError> {
        let mut builder = self.request(Method::GET, "/api/v1/admin/users");
        if let Some(after) = after {
            builder = builder.query(&[("after", after.to_string())]);
        }
        if let Some(limit) = limit {
            builder = builder.query(&[("limit", limit.to_string())]);
        }
        Self::send(builder).await
    }

    /// `POST /api/v1/admin/users`.
    pub async fn admin_create_user(
        &self,
        request: &AdminCreateUser,
    ) -> Result<AdminCreatedUser, ClientError> {
        self.post("/api/v1/admin/users", request).await
    }

    /// `POST /api/v1/admin/users/{id}/disable` (`disabled`) or `/enable`.
    pub async fn admin_set_disabled(&self, id: Uuid, disabled: bool) -> Result<(), ClientError> {
        let verb = if disabled { "disable" } else { "enable" };
        let path = format!("/api/v1/admin/users/{id}/{verb}");
        Self::send_empty(self.request(Method::POST, &path)).await
    }

    /// `PUT /api/v1/admin/users/{id}/role`.
    pub async fn admin_set_role(&self, id: Uuid, role: UserRole) -> Result<(), ClientError> {
        let path = format!("/api/v1/admin/users/{id}/role");
        let builder = self.request(Method::PUT, &path);
        Self::send_empty(builder.json(&SetRoleRequest { role })).await
    }

    /// `DELETE /api/v1/admin/users/{id}`.
    pub async fn admin_delete_user(&self, id: Uuid) -> Result<(), ClientError> {
        let path = format!("/api/v1/admin/users/{id}");
        Self::send_empty(self.request(Method::DELETE, &path)).await
    }

    /// `GET /api/v1/admin/users/{id}/quota`.
    pub async fn admin_quota(&self, id: Uuid) -> Result<UserQuota, ClientError> {
        self.get(&format!("/api/v1/admin/users/{id}/quota")).await
    }

    /// `PUT /api/v1/admin/users/{id}/quota`.
    pub async fn admin_set_quota(
        &self,
        id: Uuid,
        overrides: &QuotaOverrides,
    ) -> Result<UserQuota, ClientError> {
        let path = format!("/api/v1/admin/users/{id}/quota");
        Self::send(self.request(Method::PUT, &path).json(overrides)).await
    }

    /// `POST /api/v1/admin/invitations`.
    pub async fn create_invitation(
        &self,
        request: &InvitationRequest,
    ) -> Result<InvitationCreated, ClientError> {
        self.post("/api/v1/admin/invitations", request).await
    }

    /// `GET /api/v1/admin/invitations`.
    pub async fn invitations(&self) -> Result<InvitationList, ClientError> {
        self.get("/api/v1/admin/invitations").await
    }

    /// `DELETE /api/v1/admin/invitations/{id}`.
    pub async fn delete_invitation(&self, id: Uuid) -> Result<(), ClientError> {
        let path = format!("/api/v1/admin/invitations/{id}");
        Self::send_empty(self.request(Method::DELETE, &path)).await
    }
}
