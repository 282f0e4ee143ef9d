-- A Supabase app's first migration, written as its own repository would: an enum, a profile
-- made at sign-up by a trigger on auth.users, owner-only policies and grants.
create type public.member_role as enum ('member', 'moderator', 'owner');

create table public.profiles (
  id uuid primary key references auth.users (id) on delete cascade,
  username text unique,
  role public.member_role not null default 'member',
  created_at timestamptz not null default now()
);

alter table public.profiles enable row level security;

create policy "profiles are readable by their owner" on public.profiles
  for select to authenticated using (auth.uid() = id);

create policy "owners update their profile" on public.profiles
  for update to authenticated using (auth.uid() = id) with check (auth.uid() = id);

create function public.handle_new_user() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  insert into public.profiles (id, username)
  values (new.id, new.raw_user_meta_data ->> 'username');
  return new;
end;
$$;

create trigger on_auth_user_created
  after insert on auth.users
  for each row execute procedure public.handle_new_user();
