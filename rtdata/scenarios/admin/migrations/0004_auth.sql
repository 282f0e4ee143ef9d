-- What ties the tables to Supabase Auth: a profile per new auth user, the role copied into the
-- user's app_metadata (so a role change reaches every session's JWT at its next refresh),
-- a guard against changing one's own role, updated_at stamps, and the role-based policies.

-- Role-based checks read the caller's profile, so policies need no join of their own.
create or replace function public.has_role(wanted public.app_role)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (
    select 1 from public.profiles where id = auth.uid() and role >= wanted
  );
$$;

create or replace function public.handle_new_user()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.profiles (id, email, full_name)
  values (new.id, new.email, coalesce(new.raw_user_meta_data ->> 'full_name', new.email));
  return new;
end;
$$;

create trigger on_auth_user_created
  after insert on auth.users
  for each row execute function public.handle_new_user();

create or replace function public.guard_role_change()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if new.role is distinct from old.role then
    if auth.uid() is not null and not public.has_role('admin') then
      raise exception 'only an admin may change a role';
    end if;
    new.role_changed_by := coalesce(auth.uid(), new.role_changed_by);
    new.role_changed_at := now();
    update auth.users
      set raw_app_meta_data = coalesce(raw_app_meta_data, '{}'::jsonb)
        || jsonb_build_object('role', new.role)
      where id = new.id;
  end if;
  return new;
end;
$$;

create trigger profiles_guard_role_change
  before update of role on public.profiles
  for each row execute function public.guard_role_change();

create or replace function public.set_updated_at()
returns trigger
language plpgsql
as $$
begin
  new.updated_at := now();
  return new;
end;
$$;

create trigger profiles_set_updated_at before update on public.profiles
  for each row execute function public.set_updated_at();
create trigger patients_set_updated_at before update on public.patients
  for each row execute function public.set_updated_at();
create trigger form_submissions_set_updated_at before update on public.form_submissions
  for each row execute function public.set_updated_at();

-- Role-based policies.
create policy "Admins manage every profile" on public.profiles
  for all to authenticated
  using (public.has_role('admin')) with check (public.has_role('admin'));
create policy "Staff read every profile" on public.profiles
  for select to authenticated using (public.has_role('staff'));
create policy "Staff read and edit patients" on public.patients
  for all to authenticated
  using (public.has_role('staff')) with check (public.has_role('staff'));
create policy "Staff review submissions" on public.form_submissions
  for all to authenticated
  using (public.has_role('staff')) with check (public.has_role('staff'));
