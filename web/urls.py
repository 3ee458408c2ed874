"""Staff pages, mounted at "/". Only ids appear in paths; names travel in POST bodies."""

from django.contrib.auth import views as auth_views
from django.urls import path

from web.views import (
    board,
    booking,
    dashboard,
    doses,
    escalations,
    patients,
    plans,
    registration,
    screens,
    setup,
)

app_name = "web"

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="web/login.html", redirect_authenticated_user=True),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(next_page="/login/"), name="logout"),
    path("", board.home, name="home"),
    path("clinics/<int:clinic_id>/today/", board.today, name="today"),
    path("clinics/<int:clinic_id>/today/counts/", board.today_counts, name="today-counts"),
    path("visits/<int:visit_id>/check-in/", board.check_in, name="check-in"),
    path("visits/<int:visit_id>/complete/", board.complete, name="complete"),
    path("visits/<int:visit_id>/undo-check-in/", board.undo_check_in, name="undo-check-in"),
    path("visits/<int:visit_id>/reopen/", board.reopen_missed, name="reopen"),
    path("visits/<int:visit_id>/excuse/", board.excuse, name="excuse"),
    path("visits/<int:visit_id>/screen/", screens.screen_result, name="screen-result"),
    path("visits/<int:visit_id>/callback-bottles/", screens.callback_bottles, name="callback-bottles"),
    path("clinics/<int:clinic_id>/today/scan/", board.scan_check_in, name="scan-check-in"),
    path("clinics/<int:clinic_id>/patients/", patients.search_page, name="patients"),
    path("clinics/<int:clinic_id>/patients/search/", patients.search, name="patient-search"),
    path("patients/<int:patient_id>/", patients.patient_detail, name="patient"),
    path("clinics/<int:clinic_id>/patients/new/", registration.register, name="patient-register"),
    path("patients/<int:patient_id>/edit/", registration.edit, name="patient-edit"),
    path("patients/<int:patient_id>/book/", booking.book_page, name="book"),
    path("patients/<int:patient_id>/plans/new/", plans.plan_start, name="plan-start"),
    path("plans/<int:plan_id>/change/", plans.plan_change, name="plan-change"),
    path("plans/<int:plan_id>/end/", plans.plan_end, name="plan-end"),
    path("plans/<int:plan_id>/pauses/", plans.pause_add, name="pause-add"),
    path("plans/<int:plan_id>/takehome-review/", patients.takehome_review, name="takehome-review"),
    path("patients/<int:patient_id>/book/submit/", booking.book, name="book-submit"),
    path("visits/<int:visit_id>/reschedule/", booking.reschedule, name="reschedule"),
    path("visits/<int:visit_id>/cancel/", booking.cancel, name="cancel"),
    path("clinics/<int:clinic_id>/availability.json", booking.availability_json, name="availability"),
    path("clinics/<int:clinic_id>/escalations/", escalations.inbox, name="escalations"),
    path("escalations/<int:escalation_id>/resolve/", escalations.resolve, name="escalation-resolve"),
    path("escalations/<int:escalation_id>/calls/", escalations.log_call, name="escalation-call"),
    path("tasks/<int:task_id>/done/", escalations.task_done, name="task-done"),
    path("clinics/<int:clinic_id>/dashboard/", dashboard.dashboard, name="dashboard"),
    path("clinics/<int:clinic_id>/drift/outreach/", dashboard.drift_outreach, name="drift-outreach"),
    path("clinics/<int:clinic_id>/dashboard/attendance.csv", dashboard.attendance_csv, name="attendance-csv"),
    path("clinics/<int:clinic_id>/setup/", setup.setup, name="setup"),
    path("clinics/<int:clinic_id>/setup/windows/", setup.window_add, name="window-add"),
    path("clinics/<int:clinic_id>/setup/windows/<int:window_id>/delete/", setup.window_remove, name="window-delete"),
    path("clinics/<int:clinic_id>/setup/closures/", setup.closure_add, name="closure-add"),
    path(
        "clinics/<int:clinic_id>/setup/closures/<int:closure_id>/delete/", setup.closure_remove, name="closure-delete"
    ),
    path("clinics/<int:clinic_id>/setup/holidays/", setup.holidays, name="holidays-import"),
    path("clinics/<int:clinic_id>/setup/rules/", setup.rules_edit, name="rules-edit"),
    path("clinics/<int:clinic_id>/setup/templates/<int:template_id>/", setup.template_edit, name="template-edit"),
    path("clinics/<int:clinic_id>/setup/jobs/<int:task_id>/", setup.job_toggle, name="job-toggle"),
    path("plans/<int:plan_id>/orders/", doses.order_create, name="dose-order"),
    path("plans/<int:plan_id>/taper/", doses.taper_create, name="dose-taper"),
    path("visits/<int:visit_id>/cows/", doses.cows_record, name="cows"),
]
