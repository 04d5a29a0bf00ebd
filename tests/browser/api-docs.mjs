// The API documentation page renders in a real browser and lists the reports operation.
import { scenario } from './lib.mjs';

await scenario('api-docs', async ({ page, base }) => {
  await page.goto(`${base}/api/docs`);
  await page.getByText('/v1/reports/issuance').first().waitFor();
});
