from django.contrib import admin

from notifications.models import InboundMessage, Message, MessageTemplate, ReminderPolicy


@admin.register(ReminderPolicy)
class ReminderPolicyAdmin(admin.ModelAdmin):
    list_display = ["medication", "clinic", "days_before", "send_at", "missed_checkin", "enabled"]
    list_filter = ["medication", "enabled"]


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
    list_display = ["purpose", "language", "clinic"]
    list_filter = ["purpose", "language"]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    # Bodies and numbers are patient data: listed by id and status only.
    list_display = ["id", "patient", "purpose", "slot", "scheduled_for", "status", "error_code", "attempts"]
    list_filter = ["status", "purpose"]
    readonly_fields = [f.name for f in Message._meta.fields]


@admin.register(InboundMessage)
class InboundMessageAdmin(admin.ModelAdmin):
    list_display = ["id", "patient", "clinic", "handled_as", "received_at"]
    readonly_fields = [f.name for f in InboundMessage._meta.fields]
