import os
import requests

BASE = "https://api.esqase.com"
headers = {
    "Authorization": f"Bearer {os.environ['ESQASE_API_KEY']}",
    "Content-Type": "application/json",
}

# 1. Read a practice area to get one of its stage ids.
practice_area_id = "b2c3d4e5-1000-4a1b-9c2d-1234567890ab"
practice_area = requests.get(
    f"{BASE}/v1/practice-areas/{practice_area_id}", headers=headers
).json()["data"]
stage_id = practice_area["stages"][0]["id"]

# 2. Create a matter in that practice area and stage.
client_contact_id = "a1b2c3d4-0001-4a1b-9c2d-1234567890ab"
matter = requests.post(
    f"{BASE}/v1/matters",
    headers=headers,
    json={
        "practiceAreaId": practice_area_id,
        "practiceAreaStageColumnId": stage_id,
        "openDate": "2026-07-01",
        "title": "Doe v. Acme Holdings",
        "clientContactIds": [client_contact_id],
    },
).json()["data"]
print(f"Created matter {matter['publicId']}")
