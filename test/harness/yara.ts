// The tests' YARA rule and the marker it finds (clamd's test database does not flag it),
// for the yara engine's tests and the two-engine e2e test.
export const YARA_MARKER = 'KAKITOME-YARA-TEST-MARKER-7f3c';
export const YARA_RULE = `rule Kakitome_Test_Marker
{
  strings:
    $marker = "${YARA_MARKER}"
  condition:
    $marker
}
`;

