"""The local server's Postgres: the cluster it runs on, Supabase's shape inside it, and the
changes read back from its write-ahead log."""
