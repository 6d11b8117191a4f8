//! One conformance suite for every store method, run on both backends: each scenario below is
//! an `async fn(Arc<dyn Store>)` and `conformance!` turns it into `sqlite::<name>` and
//! `postgres::<name>` tests. PostgreSQL comes from `pyth_on_store::testing`.

// Scenarios are plain async fns (not `#[test]`s), so clippy's test allowance does not reach them.
#![expect(
    clippy::unwrap_used,
    reason = "in a test, a panic is the failure report"
)]

mod accounts;
mod api_keys;
mod audit;
mod backend;
mod concurrency;
mod egress;
mod nodes;
mod package_envs;
mod packages;
mod quotas;
mod rate_limits;
mod refresh;
mod runs;
mod secrets;
mod sessions;
mod support;
mod users;
mod zk_code;

/// Declares every scenario once per backend, each on a fresh database.
macro_rules! conformance {
    ($($module:ident :: $scenario:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let db = crate::support::TestDb::sqlite().await;
                    crate::$module::$scenario(db.store.clone()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let db = crate::support::TestDb::postgres().await;
                    crate::$module::$scenario(db.store.clone()).await;
                }
            )*
        }
    };
}

conformance! {
    accounts::users_are_listed_in_creation_order_with_role_and_paging,
    accounts::a_disabled_user_reads_back_disabled_and_both_chains_get_the_entry,
    accounts::the_last_enabled_admin_cannot_be_disabled_demoted_or_deleted,
    accounts::a_password_change_revokes_every_other_sign_in,
    accounts::a_sign_in_is_revoked_only_by_its_owner,
    accounts::the_secrets_default_is_all_until_set_to_none,
    accounts::deleting_a_user_leaves_no_row_of_theirs,
    accounts::an_invitation_registers_one_account_and_only_before_it_expires,
    accounts::one_invitation_presented_twice_at_once_registers_one_account,
    backend::a_store_answers_ping_and_names_its_backend,
    users::a_new_user_is_found_by_email_and_by_id,
    users::a_duplicate_email_is_a_conflict_and_writes_no_audit,
    users::email_lookup_is_exact_because_callers_store_emails_lowercase,
    users::unknown_users_are_not_found,
    api_keys::registration_stores_the_user_their_first_key_and_one_audit_entry,
    api_keys::keys_are_listed_oldest_first_and_found_by_hash,
    api_keys::a_duplicate_key_hash_is_a_conflict,
    api_keys::revoking_a_key_hides_it_and_audits_exactly_once,
    api_keys::another_user_cannot_revoke_a_key,
    api_keys::touching_a_key_records_its_last_use,
    api_keys::a_key_is_found_with_its_owner_as_the_owner_is_now,
    api_keys::the_key_cap_counts_live_keys_and_a_refusal_writes_nothing,
    refresh::rotating_a_live_token_spends_it_and_stores_the_successor,
    refresh::replaying_a_spent_token_revokes_the_whole_family_including_the_successor,
    refresh::an_expired_token_is_invalid_and_writes_nothing,
    refresh::an_unknown_token_is_invalid,
    refresh::revoking_a_family_invalidates_its_live_token,
    refresh::signing_out_revokes_the_live_tokens_family_once_and_audits_it,
    secrets::creating_a_secret_stores_version_one,
    secrets::replacing_a_secret_bumps_the_version_and_keeps_created_at,
    secrets::a_stale_expected_version_is_a_conflict_and_changes_nothing,
    secrets::the_quota_refuses_new_secrets_but_allows_replacing,
    secrets::secrets_are_isolated_between_users,
    secrets::deleting_a_secret_audits_once_and_reports_a_missing_one,
    secrets::rewrapping_updates_the_key_only_while_the_version_matches,
    audit::every_audited_change_lands_in_one_chain_that_verifies,
    audit::zk_code_and_package_changes_extend_one_chain_that_verifies,
    audit::an_appended_entry_reads_back_exactly,
    audit::audit_pages_newest_first_with_a_seq_cursor,
    audit::the_action_prefix_filter_is_literal_not_a_like_pattern,
    audit::one_users_entries_are_invisible_to_another,
    audit::a_failed_change_writes_no_audit_entry,
    concurrency::twenty_concurrent_appends_for_one_user_form_one_gapless_valid_chain,
    concurrency::concurrent_rotations_of_one_token_rotate_once_and_detect_the_reuse,
    concurrency::concurrent_creates_cannot_exceed_the_secret_quota,
    concurrency::concurrent_requests_share_one_rate_limit_bucket,
    concurrency::ten_concurrent_claims_of_one_env_elect_exactly_one_builder,
    concurrency::ten_concurrent_takeovers_of_a_stale_claim_elect_exactly_one_builder,
    concurrency::concurrent_adds_cannot_exceed_the_package_quota,
    concurrency::concurrent_puts_cannot_exceed_the_zk_code_quota,
    concurrency::eighty_concurrent_key_creations_never_exceed_the_cap,
    concurrency::concurrent_adds_and_list_replacements_never_exceed_the_package_quota,
    concurrency::concurrent_refunds_give_back_one_cell_each_and_never_more_than_the_burst,
    rate_limits::a_key_allows_its_burst_then_denies_then_refills,
    rate_limits::peeking_does_not_consume_a_cell,
    rate_limits::keys_have_independent_buckets,
    rate_limits::purging_removes_only_keys_whose_tat_has_passed,
    rate_limits::a_refund_gives_back_exactly_one_cell,
    rate_limits::a_refund_never_moves_the_tat_below_now,
    zk_code::storing_zk_code_creates_it_and_reads_it_back_exactly,
    zk_code::replacing_zk_code_overwrites_it_but_keeps_created_at,
    zk_code::zk_code_names_are_case_sensitive_and_listed_byte_wise,
    zk_code::the_zk_code_quota_refuses_new_items_writing_nothing_but_allows_replacing,
    zk_code::another_users_zk_code_is_invisible,
    zk_code::deleting_zk_code_audits_once_and_reports_a_missing_one,
    packages::adding_a_package_creates_it_and_audits_once,
    packages::adding_the_same_name_again_replaces_its_spec_and_added_at,
    packages::packages_are_listed_by_language_then_name,
    packages::the_package_quota_counts_per_language_and_a_refusal_writes_nothing,
    packages::setting_packages_replaces_only_that_languages_list,
    packages::setting_a_list_with_a_duplicate_name_is_a_conflict_and_writes_nothing,
    packages::setting_more_packages_than_the_quota_is_a_conflict_and_writes_nothing,
    packages::another_users_packages_are_invisible,
    packages::removing_a_package_audits_once_and_reports_a_missing_one,
    package_envs::claiming_an_unknown_env_inserts_a_building_row_and_only_once,
    package_envs::a_stale_building_claim_is_taken_over_and_a_fresh_one_is_not,
    package_envs::finished_envs_are_never_claimed_until_deleted,
    package_envs::finishing_a_build_records_its_outcome_and_a_missing_env_is_not_found,
    package_envs::touching_an_env_records_its_use_without_refreshing_a_build_claim,
    package_envs::envs_are_listed_least_recently_used_first_and_deleted_by_key,
    runs::a_run_is_on_record_from_its_start_until_its_outcome,
    runs::a_run_put_on_the_record_twice_is_refused_whole_and_the_store_stays_writable,
    runs::another_nodes_runs_are_stale_only_past_their_deadline,
    runs::an_interrupted_run_is_closed_once_and_its_late_outcome_still_lands,
    runs::a_runs_cpu_time_is_added_to_its_owners_day_with_its_outcome,
    runs::an_outcome_that_cannot_be_appended_charges_nothing_and_leaves_the_run_open,
    runs::a_run_whose_account_was_deleted_ends_without_a_charge_or_an_entry,
    runs::a_run_recorded_after_another_audited_change_extends_the_chain_after_it,
    runs::runs_of_one_user_recorded_at_once_keep_one_unbroken_chain,
    egress::an_allow_list_is_absent_until_set_then_replaced_whole_with_an_audit_each,
    egress::another_users_allow_list_is_invisible,
    egress::deleting_an_allow_list_audits_once_and_reports_a_missing_one,
    sessions::a_session_is_on_record_from_its_opening_until_it_ends,
    sessions::a_session_id_on_the_record_twice_is_a_conflict,
    sessions::a_users_records_on_every_node_are_listed_oldest_first_and_no_one_elses,
    sessions::a_restarted_node_clears_only_the_records_its_earlier_runs_left,
    sessions::records_past_their_expiry_are_cleared_on_every_node_and_live_ones_kept,
    quotas::overrides_are_absent_until_set_then_replaced_and_removed_with_an_audit_each,
    quotas::runs_are_counted_per_day_up_to_the_bound_and_a_refusal_counts_nothing,
    quotas::a_users_overrides_replace_the_defaults_in_the_reservation_and_zero_is_unbounded,
    quotas::a_bound_of_zero_refuses_even_the_first_run_of_a_day,
    quotas::cpu_time_is_added_and_a_used_up_day_refuses_runs,
    quotas::a_released_run_is_given_back_once_and_never_below_zero,
    quotas::twenty_concurrent_reservations_against_five_admit_exactly_five,
    quotas::sessions_past_the_owners_bound_are_refused_on_every_node,
    quotas::concurrent_session_records_never_pass_the_bound,
    quotas::encrypted_code_bytes_are_bounded_and_a_replace_counts_only_its_new_bytes,
}
