"""The HTTP API's shells that span apps (API.md): views, routes and serializers that call down into
notifications.replanning, visits and scheduler. Not a Django app (no models); config/urls.py mounts the routes.

API plumbing that only looks down stays with its app (scheduler/api/{base,errors,filters,pagination,audit,
serializers}.py, visits/escalations_api.py, notifications/api.py); a view moves here when it must import upward."""
