-- The postgresql schema that MedEmbed created before migrations (create_all of every table, as main had
-- them at commit 7e90382), for tests/test_migrations.py. Generated from that code; do not edit.
CREATE TABLE audit_log (
	id SERIAL NOT NULL, 
	at TIMESTAMP WITH TIME ZONE NOT NULL, 
	actor VARCHAR(256) NOT NULL, 
	role VARCHAR(16), 
	action VARCHAR(64) NOT NULL, 
	target TEXT NOT NULL, 
	ok BOOLEAN NOT NULL, 
	detail JSON NOT NULL, 
	PRIMARY KEY (id)
);

CREATE INDEX ix_audit_log_action ON audit_log (action);

CREATE INDEX ix_audit_log_actor ON audit_log (actor);

CREATE INDEX ix_audit_log_at ON audit_log (at);

CREATE TABLE documents (
	id SERIAL NOT NULL, 
	source VARCHAR(32) NOT NULL, 
	collection VARCHAR(128) NOT NULL, 
	external_id VARCHAR(256), 
	title TEXT, 
	authors TEXT, 
	journal VARCHAR(512), 
	year INTEGER, 
	doi VARCHAR(256), 
	pmcid VARCHAR(32), 
	file_path TEXT, 
	n_pages INTEGER, 
	sha256 VARCHAR(64) NOT NULL, 
	added_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (sha256)
);

CREATE INDEX ix_documents_collection ON documents (collection);

CREATE INDEX ix_documents_external_id ON documents (external_id);

CREATE TABLE eval_runs (
	id SERIAL NOT NULL, 
	dataset VARCHAR(256) NOT NULL, 
	split VARCHAR(32) NOT NULL, 
	retriever VARCHAR(256) NOT NULL, 
	n_queries INTEGER NOT NULL, 
	metrics JSON NOT NULL, 
	seconds FLOAT, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	PRIMARY KEY (id)
);

CREATE TABLE login_throttle (
	key VARCHAR(300) NOT NULL, 
	failures INTEGER NOT NULL, 
	last_failure_at TIMESTAMP WITH TIME ZONE, 
	blocked_until TIMESTAMP WITH TIME ZONE, 
	PRIMARY KEY (key)
);

CREATE TABLE recent_searches (
	id SERIAL NOT NULL, 
	owner VARCHAR(256) NOT NULL, 
	query TEXT NOT NULL, 
	options JSON NOT NULL, 
	at TIMESTAMP WITH TIME ZONE NOT NULL, 
	PRIMARY KEY (id)
);

CREATE INDEX ix_recent_searches_owner ON recent_searches (owner);

CREATE TABLE user_sessions (
	token_hash VARCHAR(64) NOT NULL, 
	username VARCHAR(128) NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	last_seen_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	PRIMARY KEY (token_hash)
);

CREATE INDEX ix_user_sessions_username ON user_sessions (username);

CREATE TABLE users (
	id SERIAL NOT NULL, 
	username VARCHAR(128) NOT NULL, 
	role VARCHAR(16) NOT NULL, 
	password_hash TEXT NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	password_changed_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	last_login_at TIMESTAMP WITH TIME ZONE, 
	PRIMARY KEY (id), 
	UNIQUE (username)
);

CREATE TABLE abbreviations (
	document_id INTEGER NOT NULL, 
	short VARCHAR(16) NOT NULL, 
	long VARCHAR(256) NOT NULL, 
	PRIMARY KEY (document_id, short), 
	FOREIGN KEY(document_id) REFERENCES documents (id) ON DELETE CASCADE
);

CREATE TABLE chunks (
	id SERIAL NOT NULL, 
	document_id INTEGER NOT NULL, 
	ordinal INTEGER NOT NULL, 
	page INTEGER, 
	char_start INTEGER, 
	char_end INTEGER, 
	text TEXT NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(document_id) REFERENCES documents (id) ON DELETE CASCADE
);

CREATE INDEX ix_chunks_document_id ON chunks (document_id);

CREATE TABLE reading_list (
	id SERIAL NOT NULL, 
	owner VARCHAR(256) NOT NULL, 
	document_id INTEGER NOT NULL, 
	note TEXT NOT NULL, 
	added_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (owner, document_id), 
	FOREIGN KEY(document_id) REFERENCES documents (id) ON DELETE CASCADE
);

CREATE INDEX ix_reading_list_document_id ON reading_list (document_id);

CREATE INDEX ix_reading_list_owner ON reading_list (owner);

CREATE TABLE study_designs (
	document_id INTEGER NOT NULL, 
	study_type VARCHAR(32) NOT NULL, 
	evidence TEXT NOT NULL, 
	PRIMARY KEY (document_id), 
	FOREIGN KEY(document_id) REFERENCES documents (id) ON DELETE CASCADE
);

CREATE INDEX ix_study_designs_study_type ON study_designs (study_type);
