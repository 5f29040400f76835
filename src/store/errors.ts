// Errors of the store whose message is meant for the administrator (one line, CLI and serve).

/** The data directory is missing, unreadable, or open to group or others. */
export class DataDirError extends Error {}

/** The store was written by a newer kakitome than this one. */
export class SchemaVersionError extends Error {}
