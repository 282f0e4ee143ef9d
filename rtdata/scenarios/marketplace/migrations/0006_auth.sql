-- What ties the tables to Supabase Auth and keeps derived columns right: a profile per new auth
-- user, updated_at stamps, a technician's rating after each review, and the policies that
-- need a lookup (admins, the technicians' marketplace, a booking's participants).

create or replace function public.handle_new_user()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.profiles (id, email, full_name, role)
  values (
    new.id,
    new.email,
    coalesce(new.raw_user_meta_data ->> 'full_name', new.email),
    coalesce((new.raw_user_meta_data ->> 'role')::public.user_role, 'customer')
  );
  return new;
end;
$$;

create trigger on_auth_user_created
  after insert on auth.users
  for each row execute function public.handle_new_user();

create or replace function public.is_admin()
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (select 1 from public.profiles where id = auth.uid() and role = 'admin');
$$;

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
create trigger technicians_set_updated_at before update on public.technicians
  for each row execute function public.set_updated_at();
create trigger bookings_set_updated_at before update on public.bookings
  for each row execute function public.set_updated_at();
create trigger bids_set_updated_at before update on public.bids
  for each row execute function public.set_updated_at();

-- A technician's average rating and review count follow their reviews.
create or replace function public.refresh_technician_rating()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  update public.technicians t
    set rating = r.average, reviews_count = r.n
    from (
      select round(avg(rating), 2) as average, count(*) as n
      from public.reviews where technician_id = new.technician_id
    ) r
    where t.id = new.technician_id;
  return new;
end;
$$;

create trigger reviews_refresh_technician_rating after insert on public.reviews
  for each row execute function public.refresh_technician_rating();

-- Policies that need a lookup: the admin check, a technician's city and trades, a booking's
-- customer and participants.
create policy "Admins read every profile" on public.profiles
  for select to authenticated using (public.is_admin());
create policy "Admins verify technicians" on public.technicians
  for update to authenticated using (public.is_admin()) with check (public.is_admin());
create policy "Admins read every booking" on public.bookings
  for select to authenticated using (public.is_admin());
create policy "Technicians see open jobs in their city" on public.bookings
  for select to authenticated
  using (
    status in ('pending', 'bidding')
    and exists (
      select 1 from public.technicians t
      where t.id = auth.uid() and t.is_verified and t.city_id = bookings.city_id
        and bookings.category = any (t.skills)
    )
  );
create policy "Customers read the bids on their bookings" on public.bids
  for select to authenticated
  using (exists (
    select 1 from public.bookings b where b.id = bids.booking_id and b.customer_id = auth.uid()
  ));
create policy "Customers accept and reject the bids on their bookings" on public.bids
  for update to authenticated
  using (exists (
    select 1 from public.bookings b where b.id = bids.booking_id and b.customer_id = auth.uid()
  ));
create policy "Participants read a booking's chat" on public.messages
  for select to authenticated
  using (exists (
    select 1 from public.bookings b
    where b.id = messages.booking_id
      and auth.uid() in (b.customer_id, b.technician_id)
  ));
create policy "Admins read every payment" on public.payments
  for select to authenticated using (public.is_admin());
