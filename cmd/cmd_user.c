/* kino user: accounts from the command line, for the first admin and for
 * operators. The password is read from standard input, never from the
 * command line (where `ps` and shell history would show it). */
#include "commands.h"

#include "kino/auth.h"
#include "kino/db.h"
#include "kino/error.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#define DB_WAIT_MS 15000

/* One line from stdin, without its newline; with echo off on a terminal.
 * Returns false when there is no line or it is too long. */
static bool read_password(char *buf, size_t size)
{
	struct termios old, quiet;
	bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
	bool ok;
	size_t n;

	if (tty) {
		fprintf(stderr, "Password: ");
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	ok = fgets(buf, (int)size, stdin) != NULL;
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fprintf(stderr, "\n");
	}
	if (!ok)
		return false;
	n = strlen(buf);
	if (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	else if (n == size - 1)
		return false; /* no newline in a full buffer: too long */
	if (n > 0 && buf[n - 1] == '\r')
		buf[--n] = '\0';
	return true;
}

static int user_add(int argc, char **argv, const kino_config_t *cfg)
{
	static const struct option opts[] = {
		{"email", required_argument, NULL, 'e'},
		{"role", required_argument, NULL, 'r'},
		{NULL, 0, NULL, 0},
	};
	const char *email = NULL;
	kino_role_t role = KINO_ROLE_VIEWER;
	char password[1100];
	kino_error_t err = {0};
	kino_auth_t *auth = NULL;
	kino_db_t *db = NULL;
	kino_user_t user;
	int c, ret = KINO_EXIT_FAILURE;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'e') {
			email = optarg;
		} else if (c == 'r') {
			if (!kino_role_parse(optarg, &role)) {
				fprintf(stderr, "kino user add: --role must be viewer, analyst or admin, not '%s'\n", optarg);
				return KINO_EXIT_USAGE;
			}
		} else {
			return KINO_EXIT_USAGE;
		}
	}
	if (email == NULL || optind != argc) {
		fprintf(stderr, "kino user add: usage: kino user add --email E --role R < password\n");
		return KINO_EXIT_USAGE;
	}
	if (!read_password(password, sizeof(password))) {
		fprintf(stderr, "kino user add: read the password from standard input: none given, or longer than 1024 bytes\n");
		return KINO_EXIT_USAGE;
	}
	if (kino_auth_validate(email, password, &err) != 0) {
		fprintf(stderr, "kino user add: %s\n", kino_error_message(&err));
		return KINO_EXIT_USAGE;
	}
	db = kino_db_new(&cfg->db, &err);
	if (db == NULL || kino_db_wait_ready(db, DB_WAIT_MS, &err) != 0) {
		fprintf(stderr, "kino user add: the database does not answer (is `kino up` running, or KINO_MONGO_URI set?): %s\n",
			kino_error_message(&err));
		goto out;
	}
	auth = kino_auth_new(db, &cfg->auth, &err);
	if (auth == NULL ||
	    kino_auth_user_create(auth, email, password, role, &user, &err) != 0) {
		fprintf(stderr, "kino user add: %s\n", kino_error_message(&err));
		goto out;
	}
	printf("created %s account %s (id %s)\n", kino_role_name(user.role), user.email, user.id);
	ret = KINO_EXIT_OK;
out:
	memset(password, 0, sizeof(password));
	kino_auth_destroy(auth);
	kino_db_destroy(db);
	return ret;
}

static int run(int argc, char **argv, const kino_config_t *cfg)
{
	if (argc >= 2 && strcmp(argv[1], "add") == 0)
		return user_add(argc - 1, argv + 1, cfg);
	fprintf(stderr, "kino user: unknown or missing subcommand (see 'kino user --help')\n");
	return KINO_EXIT_USAGE;
}

const kino_command_t kino_cmd_user = {
	.name = "user",
	.summary = "manage accounts and roles (kino user add ...)",
	.usage = "Usage: kino user add --email EMAIL --role viewer|analyst|admin < password\n"
		 "\n"
		 "Creates an account, for example the first admin. The password is read\n"
		 "from standard input (without echo on a terminal), never from the\n"
		 "command line; it must be 8 to 1024 bytes. Needs the database: a running\n"
		 "`kino up` on this machine, or KINO_MONGO_URI.\n"
		 "Exit status: 0 when created, 1 when the database fails or the email is\n"
		 "taken, 2 for bad arguments.\n",
	.run = run,
};
