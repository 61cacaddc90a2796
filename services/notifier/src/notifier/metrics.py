from prometheus_client import Counter

RAISED = Counter("notifications_raised_total", "Notifications created", ["severity"])
SUPPRESSED = Counter(
    "notifications_suppressed_total", "Codes not notified because an unread notification exists"
)
REPUBLISHED = Counter(
    "notifications_republished_total", "Notifications re-emitted when a reading was redelivered"
)
