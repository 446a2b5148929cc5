/** Password rules (SPEC §2): 10–256 characters, not a well-known password. */
export const PASSWORD_MIN = 10;
export const PASSWORD_MAX = 256;

// Common passwords of 10+ characters (shorter ones fail the length rule anyway), drawn
// from public breach frequency lists; compared case-insensitively.
const COMMON = new Set(
  `1234567890 0123456789 12345678910 123456789a 1234567890a qwertyuiop qwertyuiop1 password1234
  password123 password12 password01 passw0rd123 iloveyou12 iloveyou123 1q2w3e4r5t 1q2w3e4r5t6y
  1qaz2wsx3edc qazwsxedcrfv qwerty1234 qwerty12345 qwerty123456 asdfghjkl1 asdfghjkl123 zxcvbnm123
  abc1234567 abcd123456 abcdefghij 1111111111 0000000000 2222222222 5555555555 7777777777 8888888888
  9999999999 1234512345 1212121212 1122334455 9876543210 0987654321 aaaaaaaaaa princess123
  sunshine123 football123 baseball123 welcome123 welcome1234 letmein123 monkey1234 dragon1234
  master1234 superman123 starwars123 trustno1234 whatever123 administrator admin12345 admin123456
  changeme123 changeme1234 default1234 secret1234 password! password1! p@ssword123 p@ssw0rd123
  passwordpassword qwertyqwerty 123123123123 123456123456 123qweasdzxc 1qaz2wsx1qaz zaq12wsxcde3
  michael123 jennifer123 jordan2323 liverpool1 chocolate1 butterfly1 basketball football1
  pokemon123 computer12 internet12 q1w2e3r4t5 q1w2e3r4t5y6 a1b2c3d4e5 1a2b3c4d5e iloveyou1234
  mypassword mypassword1 thisismypassword correcthorsebatterystaple letmeinplease unbelievable
  1234567891 12345678901 123456789123 1234567890123 987654321a 11223344556 qwerty123! asdf123456`
    .split(/\s+/)
    .filter(Boolean),
);

export type PasswordProblem = "too_short" | "too_long" | "too_common";

export function checkPassword(password: string, email?: string): PasswordProblem | null {
  const length = [...password].length;
  if (length < PASSWORD_MIN) return "too_short";
  if (length > PASSWORD_MAX) return "too_long";
  const lowered = password.toLowerCase();
  if (COMMON.has(lowered)) return "too_common";
  if (/^(.)\1+$/.test(password)) return "too_common";
  if (email && lowered === email.toLowerCase()) return "too_common";
  return null;
}

export const PASSWORD_MESSAGES: Record<PasswordProblem, string> = {
  too_short: `password must be at least ${PASSWORD_MIN} characters`,
  too_long: `password must be at most ${PASSWORD_MAX} characters`,
  too_common: "password is too common; choose another",
};
