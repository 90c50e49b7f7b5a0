//! The GraphQL operations this crate sends, one `.graphql` file each in
//! `operations/`, embedded at build time. Every file validates against
//! Sourcegraph's schema (tested); an emulator answers the same files.

/// One named GraphQL operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation {
    /// The operation name (also the file name without `.graphql`).
    pub name: &'static str,
    /// The document text.
    pub query: &'static str,
    /// Whether it is a mutation (never retried once the request was sent).
    pub mutation: bool,
}

macro_rules! operation {
    ($konst:ident, $name:literal, $doc:literal, $mutation:literal) => {
        #[doc = $doc]
        pub const $konst: Operation = Operation {
            name: $name,
            query: include_str!(concat!("../operations/", $name, ".graphql")),
            mutation: $mutation,
        };
    };
}

operation!(
    AUTH_PROVIDERS,
    "AuthProviders",
    "Every configured auth provider (the field has no pagination).",
    false
);
operation!(
    CODE_INTEL_UPLOADS_COUNT,
    "CodeIntelUploadsCount",
    "Count of precise code-intel uploads, every upload state except DELETED.",
    false
);
operation!(
    CURRENT_USER,
    "CurrentUser",
    "Who the token belongs to; siteAdmin must be true for everything else here.",
    false
);
operation!(
    EDIT_SETTINGS,
    "EditSettings",
    "One key-path edit of a settings subject's JSONC, guarded by lastID.",
    true
);
operation!(
    EXTERNAL_SERVICES_HEALTH_PAGE,
    "ExternalServicesHealthPage",
    "One page of external services with their sync state, for the health checks.",
    false
);
operation!(
    EXTERNAL_SERVICES_PAGE,
    "ExternalServicesPage",
    "One page of external services (id, kind, display name), in the server's order.",
    false
);
operation!(
    EXTERNAL_SERVICES_SYNC_ERRORS_PAGE,
    "ExternalServicesSyncErrorsPage",
    "Fallback for `ExternalServicesHealthPage` on servers without `ExternalService.syncJobs`.",
    false
);
operation!(
    INSIGHT_SERIES_PAGE,
    "InsightSeriesPage",
    "One page of code insight views with the ids of their data series.",
    false
);
operation!(
    INSTANCE_HEALTH,
    "InstanceHealth",
    "Site alerts and site-config validation messages (never `site.monitoringStatistics`).",
    false
);
operation!(
    ORGANIZATIONS,
    "Organizations",
    "Organization ids (namespaces that can own saved searches).",
    false
);
operation!(
    OUT_OF_BAND_MIGRATIONS,
    "OutOfBandMigrations",
    "Every registered out-of-band migration with its recent errors.",
    false
);
operation!(
    PERMISSION_SYNC_JOBS,
    "PermissionSyncJobs",
    "One page of permission sync jobs in one state.",
    false
);
operation!(
    SAVED_SEARCHES_COUNT,
    "SavedSearchesCount",
    "Saved searches owned by one namespace (a user or an organization id).",
    false
);
operation!(
    SITE_CONFIGURATION,
    "SiteConfiguration",
    "The site configuration JSONC (only its top-level keys are ever kept).",
    false
);
operation!(
    SITE_SETTINGS,
    "SiteSettings",
    "Global settings: the site subject id, latest settings id and contents, and whether edits are allowed.",
    false
);
operation!(
    SITE_VERSION,
    "SiteVersion",
    "The running product version (e.g. \"5.1.0\", \"v6.12.5040\", \"0.0.0+dev\").",
    false
);
operation!(
    SUMMARY_COUNTS,
    "SummaryCounts",
    "Counts of repositories, users and organizations.",
    false
);
operation!(
    USERS_PAGE,
    "UsersPage",
    "One page of user ids (namespaces that can own saved searches).",
    false
);

/// Every operation, in file-name order.
pub const ALL: &[Operation] = &[
    AUTH_PROVIDERS,
    CODE_INTEL_UPLOADS_COUNT,
    CURRENT_USER,
    EDIT_SETTINGS,
    EXTERNAL_SERVICES_HEALTH_PAGE,
    EXTERNAL_SERVICES_PAGE,
    EXTERNAL_SERVICES_SYNC_ERRORS_PAGE,
    INSIGHT_SERIES_PAGE,
    INSTANCE_HEALTH,
    ORGANIZATIONS,
    OUT_OF_BAND_MIGRATIONS,
    PERMISSION_SYNC_JOBS,
    SAVED_SEARCHES_COUNT,
    SITE_CONFIGURATION,
    SITE_SETTINGS,
    SITE_VERSION,
    SUMMARY_COUNTS,
    USERS_PAGE,
];
