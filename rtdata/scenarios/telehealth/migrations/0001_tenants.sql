-- TJV Recovery Platform: clinics (tenants), their care teams and their patients.
--
-- Every tenant-owned table carries tenant_id. Row-level security reads the caller's claims from
-- the JWT's app_metadata, set by the auth hook when a user signs in:
--   patient_id      a patient's own patients.id
--   caregiver_of    the patients.id a caregiver follows
--   staff_tenant_id the clinic of a provider or clinic admin
-- Provider-to-patient assignment (care_assignments) is checked by the app's channel
-- authorisation, as the design document does; RLS scopes a provider to their clinic.

create type public.app_role as enum ('patient', 'caregiver', 'provider', 'admin');
create type public.care_role as enum ('surgeon', 'physiotherapist', 'nurse', 'care_coordinator');
create type public.tjv_procedure as enum ('total_knee', 'total_hip', 'partial_knee', 'revision_hip');

create table public.tenants (
  id uuid primary key default gen_random_uuid(),
  name text not null,
  slug text not null unique,
  timezone text not null default 'UTC',
  created_at timestamptz not null default now()
);

create table public.providers (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references public.tenants (id) on delete cascade,
  user_id uuid unique,                                  -- auth.users.id once they sign up
  full_name text not null,
  role public.care_role not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create table public.patients (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references public.tenants (id) on delete cascade,
  user_id uuid unique,
  full_name text not null,
  procedure public.tjv_procedure not null,
  surgery_date date not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create table public.care_assignments (
  provider_id uuid not null references public.providers (id) on delete cascade,
  patient_id uuid not null references public.patients (id) on delete cascade,
  tenant_id uuid not null references public.tenants (id) on delete cascade,
  is_active boolean not null default true,
  permissions text[] not null default '{read}',         -- read | write
  created_at timestamptz not null default now(),
  primary key (provider_id, patient_id)
);

create index providers_tenant_idx on public.providers (tenant_id);
create index patients_tenant_idx on public.patients (tenant_id);
create index care_assignments_patient_idx on public.care_assignments (patient_id);

alter table public.tenants enable row level security;
alter table public.providers enable row level security;
alter table public.patients enable row level security;
alter table public.care_assignments enable row level security;

create policy "staff read their clinic" on public.tenants for select to authenticated
  using (id = ((auth.jwt() -> 'app_metadata' ->> 'staff_tenant_id')::uuid));

create policy "staff read their clinic's providers" on public.providers for select to authenticated
  using (tenant_id = ((auth.jwt() -> 'app_metadata' ->> 'staff_tenant_id')::uuid));
create policy "providers update their own profile" on public.providers for update to authenticated
  using (user_id = auth.uid()) with check (user_id = auth.uid());

create policy "patients read themselves" on public.patients for select to authenticated
  using (user_id = auth.uid() or id = ((auth.jwt() -> 'app_metadata' ->> 'caregiver_of')::uuid));
create policy "staff read their clinic's patients" on public.patients for select to authenticated
  using (tenant_id = ((auth.jwt() -> 'app_metadata' ->> 'staff_tenant_id')::uuid));

create policy "staff read their clinic's assignments" on public.care_assignments
  for select to authenticated
  using (tenant_id = ((auth.jwt() -> 'app_metadata' ->> 'staff_tenant_id')::uuid));

-- The ops dashboard shows enrolments and discharges as they happen.
alter publication supabase_realtime add table public.tenants, public.providers, public.patients,
  public.care_assignments;
