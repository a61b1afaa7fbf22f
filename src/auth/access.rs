//! Who may do what: the one list every route checks on the server. A route
//! names its action; nothing else decides access.
//!
//! | action | admin | case officer | provider | citizen |
//! |---|---|---|---|---|
//! | read setup (areas, services, rates, conditions) | yes | yes | yes | yes |
//! | change setup | yes | – | – | – |
//! | manage users | yes | – | – | – |
//! | read the audit log | yes | – | – | – |
//! | register / change clients | yes | yes | – | – |
//! | read a client | yes | yes | own clients (assignment active, or ended < 90 days ago) | self |
//! | read a provider's internal data | yes | yes | own provider | – |
//! | grant, change and end decisions | yes | yes | – | – |
//! | read decisions | yes | yes | – | own |
//! | read the IVO report (unexecuted decisions) | yes | yes | – | – |
//! | read assignments | yes | yes | own provider's | own |
//! | acknowledge assignments | – | – | own provider's | – |
//! | read applications and contracts (not answers/evidence) | yes | yes | own provider's | – |
//! | read answers and evidence files | yes | – | own provider's | – |
//! | apply to a choice system, add evidence | yes (for a provider) | – | own provider | – |
//! | review, approve, reject, activate, pause, terminate contracts | yes | – | – | – |
//! | report capacity, close/open for new clients | yes | – | own provider's | – |
//! | close an area (or a service in it) to private providers | yes | – | – | – |
//! | choose a provider for a client, give the default | yes | yes (recorded as on the client's behalf) | – | self (choose only) |
//! | read a client's choices and letters | yes | yes | own clients, its own choices only | self |
//! | re-choice tasks (list, mark done) | yes | yes | – | – |
//! | set LOU target shares | yes | – | – | – |
//! | compute, adjust, approve and export settlements; SIE accounts | yes | – | – | – |
//! | read a settlement and its statement | yes | – | own provider's, once approved | – |
//! | report visits (time reports: API, CSV import) | yes (for any provider) | – | own provider's | – |
//! | read visits, import reports and visit flags | yes (all providers) | – | own provider's | – |

use super::{Principal, PrincipalKind};
use crate::app::AppState;
use crate::error::{ApiError, ApiResult};
use jiff::ToSpan;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    ReadSetup,
    ChangeSetup,
    ManageUsers,
    ReadAudit,
    ManageClients,
    ManageProviders,
    ReadAllClients,
    ManageDecisions,
    ReadUnexecutedReport,
    AcknowledgeAssignments,
    ReadContracts,
    ReadAllEvidence,
    ApplyForContract,
    DecideContracts,
    ManageIntake,
    CloseAreas,
    ChooseOnBehalf,
    ManageChoiceTasks,
    ManageSettlements,
    ReportVisits,
    ReadVisits,
}

impl Action {
    fn describe(self) -> &'static str {
        match self {
            Action::ReadSetup => "read the municipal setup",
            Action::ChangeSetup => "change the municipal setup",
            Action::ManageUsers => "manage users",
            Action::ReadAudit => "read the audit log",
            Action::ManageClients => "register or change clients",
            Action::ManageProviders => "manage providers",
            Action::ReadAllClients => "list all clients",
            Action::ManageDecisions => "grant, change or end decisions",
            Action::ReadUnexecutedReport => "read the report of unexecuted decisions",
            Action::AcknowledgeAssignments => "acknowledge assignments (only the provider can)",
            Action::ReadContracts => "read contracts",
            Action::ReadAllEvidence => "read other providers' application evidence",
            Action::ApplyForContract => "apply for a contract",
            Action::DecideContracts => "review or decide contracts",
            Action::ManageIntake => "report capacity or close for new clients",
            Action::CloseAreas => "close areas to private providers",
            Action::ChooseOnBehalf => "register a choice on a client's behalf",
            Action::ManageChoiceTasks => "work the re-choice tasks",
            Action::ManageSettlements => "compute, adjust, approve or export settlements",
            Action::ReportVisits => "report visits (time reports)",
            Action::ReadVisits => "read time reports and their flags",
        }
    }
}

/// How long after an assignment ends its provider may still read the client,
/// so late time reports and settlement questions can be handled.
pub const PROVIDER_READ_GRACE_DAYS: i64 = 90;

// A match rather than `matches!`: each role's arms grow with every domain.
#[allow(clippy::match_like_matches_macro)]
pub fn permits(p: &Principal, action: Action) -> bool {
    use Action::*;
    match (&p.kind, action) {
        // An acknowledgement says the provider itself has seen the assignment.
        (kind, AcknowledgeAssignments) => matches!(kind, PrincipalKind::Provider { .. }),
        (PrincipalKind::Admin, _) => true,
        (_, ReadSetup) => true,
        (PrincipalKind::CaseOfficer, ReadContracts) => true,
        // Scoped to the provider's own contracts by the contracts module.
        (PrincipalKind::Provider { .. }, ReadContracts | ApplyForContract | ManageIntake) => true,
        (PrincipalKind::CaseOfficer, ManageClients | ReadAllClients | ManageDecisions | ReadUnexecutedReport) => true,
        (PrincipalKind::CaseOfficer, ChooseOnBehalf | ManageChoiceTasks) => true,
        // Scoped to the provider's own visits by the visits module.
        (PrincipalKind::Provider { .. }, ReportVisits | ReadVisits) => true,
        _ => false,
    }
}

pub fn require(p: &Principal, action: Action) -> ApiResult<()> {
    if permits(p, action) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(action.describe()))
    }
}

/// May `p` read the personal data of client `client_id`? A refusal looks the
/// same as a missing client, so the answer does not reveal who is a client.
pub async fn require_client_read(state: &AppState, p: &Principal, client_id: &str) -> ApiResult<()> {
    let ok = match &p.kind {
        PrincipalKind::Admin | PrincipalKind::CaseOfficer => true,
        PrincipalKind::Citizen { client_id: own } => own == client_id,
        PrincipalKind::Provider { provider_id } => provider_serves_client(state, provider_id, client_id).await?,
    };
    if ok {
        Ok(())
    } else {
        Err(ApiError::NotFound("client"))
    }
}

pub async fn provider_serves_client(state: &AppState, provider_id: &str, client_id: &str) -> ApiResult<bool> {
    let since = state.today().checked_sub(PROVIDER_READ_GRACE_DAYS.days()).map_err(anyhow::Error::from)?;
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM assignments WHERE provider_id = $1 AND client_id = $2 \
         AND status <> 'cancelled' AND (end_date IS NULL OR end_date >= $3)",
    )
    .bind(provider_id)
    .bind(client_id)
    .bind(since.to_string())
    .fetch_one(&state.db.pool)
    .await?;
    Ok(n > 0)
}

/// A provider user may read only its own provider's internal data.
pub fn require_provider_internal(p: &Principal, provider_id: &str) -> ApiResult<()> {
    match &p.kind {
        PrincipalKind::Admin | PrincipalKind::CaseOfficer => Ok(()),
        PrincipalKind::Provider { provider_id: own } if own == provider_id => Ok(()),
        _ => Err(ApiError::NotFound("provider")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(kind: PrincipalKind) -> Principal {
        Principal { user_id: "u".into(), username: "u".into(), display_name: "U".into(), kind }
    }

    #[test]
    fn only_admin_changes_setup_and_reads_audit() {
        let roles = [
            (p(PrincipalKind::Admin), true),
            (p(PrincipalKind::CaseOfficer), false),
            (p(PrincipalKind::Provider { provider_id: "x".into() }), false),
            (p(PrincipalKind::Citizen { client_id: "c".into() }), false),
        ];
        for (who, expected) in roles {
            assert_eq!(permits(&who, Action::ChangeSetup), expected);
            assert_eq!(permits(&who, Action::ReadAudit), expected);
            assert_eq!(permits(&who, Action::ManageUsers), expected);
            assert!(permits(&who, Action::ReadSetup));
        }
    }

    #[test]
    fn providers_and_citizens_cannot_list_all_clients() {
        assert!(!permits(&p(PrincipalKind::Provider { provider_id: "x".into() }), Action::ReadAllClients));
        assert!(!permits(&p(PrincipalKind::Citizen { client_id: "c".into() }), Action::ReadAllClients));
        assert!(permits(&p(PrincipalKind::CaseOfficer), Action::ReadAllClients));
    }

    #[test]
    fn provider_internal_data_is_its_own() {
        let a = p(PrincipalKind::Provider { provider_id: "a".into() });
        assert!(require_provider_internal(&a, "a").is_ok());
        assert!(require_provider_internal(&a, "b").is_err());
        assert!(require_provider_internal(&p(PrincipalKind::Citizen { client_id: "c".into() }), "a").is_err());
    }
}
