const BASE = "https://api.esqase.com";
const headers = {
  Authorization: `Bearer ${process.env.ESQASE_API_KEY}`,
  "Content-Type": "application/json",
};

// 1. Read a practice area to get one of its stage ids.
const practiceAreaId = "b2c3d4e5-1000-4a1b-9c2d-1234567890ab";
const paRes = await fetch(`${BASE}/v1/practice-areas/${practiceAreaId}`, { headers });
const { data: practiceArea } = await paRes.json();
const stageId = practiceArea.stages[0].id;

// 2. Create a matter in that practice area and stage.
const clientContactId = "a1b2c3d4-0001-4a1b-9c2d-1234567890ab";
const matterRes = await fetch(`${BASE}/v1/matters`, {
  method: "POST",
  headers,
  body: JSON.stringify({
    practiceAreaId,
    practiceAreaStageColumnId: stageId,
    openDate: "2026-07-01",
    title: "Doe v. Acme Holdings",
    clientContactIds: [clientContactId],
  }),
});
const { data: matter } = await matterRes.json();
console.log(`Created matter ${matter.publicId}`);
