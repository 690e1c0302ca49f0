"""From files to searchable indexes: parse (``parse/``), split (``text/``), embed (``encode/``), index
(``index/``, with its local and Qdrant backends), and the SQL store with its migrations."""
