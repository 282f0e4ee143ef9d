-- The three tables the console follows live (src/services/realtime/realtimeService.js):
-- role changes, patient edits and submission status changes.

alter publication supabase_realtime add table public.profiles, public.patients,
  public.form_submissions;

-- The console compares old and new role (oldRecord?.role !== newRecord?.role) and old and new
-- status: without the full old row, old_record carries only the primary key.
alter table public.profiles replica identity full;
alter table public.form_submissions replica identity full;
