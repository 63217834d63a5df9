;;; pwnm-tests.el --- ERT tests for pwnm.el -*- lexical-binding: t -*-

;;; Commentary:

;; Run by tests/T500-emacs.t, which builds the notmuch database (see
;; there for the messages and their tags) and exports:
;;   NOTMUCH_CONFIG       the throwaway notmuch configuration
;;   PWNM_TEST_TMP        a scratch directory (the stubs log to stub.log)
;;   PWNM_TEST_STUB_OK    a notmuch-pwnm stand-in that succeeds; its
;;                        "status --porcelain" prints the file porcelain
;;                        in PWNM_TEST_TMP ("user maint" unless a test
;;                        changes it)
;;   PWNM_TEST_STUB_FAIL  one that fails with "server said no"
;;   PWNM_TEST_STUB_LATER one that fails as pwnm does when the server
;;                        does not answer (exit status 75)
;;
;; Every test that changes tags restores the database afterwards.

;;; Code:

(require 'ert)
(require 'cl-lib)
(require 'pwnm)

(setq notmuch-command "notmuch")

(defvar pwnm-tests--tmp (getenv "PWNM_TEST_TMP"))
(defvar pwnm-tests--stub-ok (getenv "PWNM_TEST_STUB_OK"))
(defvar pwnm-tests--stub-fail (getenv "PWNM_TEST_STUB_FAIL"))
(defvar pwnm-tests--stub-later (getenv "PWNM_TEST_STUB_LATER"))

(unless (and pwnm-tests--tmp pwnm-tests--stub-ok pwnm-tests--stub-fail
	     (getenv "NOTMUCH_CONFIG"))
  (error "Run these tests through tests/T500-emacs.t"))

;; What pwnm knows beyond the tags comes from the stand-in, unless a
;; test says otherwise.
(setq pwnm-command pwnm-tests--stub-ok)

;;; Helpers

(defun pwnm-tests--notmuch (&rest args)
  "Run notmuch with ARGS; return its output, fail the test on error."
  (with-temp-buffer
    (let ((status (apply #'call-process "notmuch" nil t nil args)))
      (unless (eql status 0)
	(error "notmuch %S failed (%s): %s" args status (buffer-string)))
      (buffer-string))))

(defun pwnm-tests--pw-tags (id)
  "Return the sorted pw/ tags of the message with ID."
  (sort (cl-remove-if-not
	 (lambda (tag) (string-prefix-p "pw/" tag))
	 (split-string (pwnm-tests--notmuch "search" "--output=tags"
					    "--exclude=false"
					    (concat "id:" id))
		       "\n" t))
	#'string<))

(defmacro pwnm-tests--with-db (&rest body)
  "Run BODY, then restore the tags of the database and kill notmuch buffers."
  (declare (indent 0) (debug t))
  (let ((dump (make-symbol "dump")))
    `(let ((,dump (make-temp-file "pwnm-dump")))
       (unwind-protect
	   (progn
	     (pwnm-tests--notmuch "dump" "--format=batch-tag"
				  (concat "--output=" ,dump))
	     ,@body)
	 (pwnm-tests--notmuch "restore" "--format=batch-tag"
			      (concat "--input=" ,dump))
	 (delete-file ,dump)
	 (pwnm-tests--kill-buffers)))))

(defun pwnm-tests--kill-buffers ()
  "Kill the notmuch buffers the tests made."
  (dolist (buf (buffer-list))
    (when (string-prefix-p "*notmuch-" (buffer-name buf))
      (let ((proc (get-buffer-process buf)))
	(when proc (delete-process proc)))
      (kill-buffer buf))))

(defun pwnm-tests--wait-buffer (buf)
  "Wait until the process of BUF (notmuch search or tree) ends."
  (let ((deadline (+ (float-time) 10)))
    (while (and (get-buffer-process buf) (< (float-time) deadline))
      (accept-process-output nil 0.05))
    (should-not (get-buffer-process buf))))

(defun pwnm-tests--wait-push ()
  "Wait until no push process runs (10 s at most)."
  (let ((deadline (+ (float-time) 10)))
    (while (and pwnm--push-process (< (float-time) deadline))
      (accept-process-output nil 0.05))
    (should-not pwnm--push-process)))

(defun pwnm-tests--stub-log ()
  "Return the lines the stubs logged (their arguments), then clear the log."
  (let ((file (expand-file-name "stub.log" pwnm-tests--tmp)))
    (prog1 (and (file-exists-p file)
		(with-temp-buffer
		  (insert-file-contents file)
		  (split-string (buffer-string) "\n" t)))
      (when (file-exists-p file) (delete-file file)))))

(defmacro pwnm-tests--capture-messages (var &rest body)
  "Run BODY collecting the echo area messages in VAR, newest first."
  (declare (indent 1) (debug t))
  `(cl-letf (((symbol-function 'message)
	      (lambda (fmt &rest args)
		(when fmt
		  (push (apply #'format-message fmt args) ,var))
		nil)))
     ,@body))

(defmacro pwnm-tests--with-porcelain (text &rest body)
  "Run BODY with the stand-in's \"status --porcelain\" printing TEXT."
  (declare (indent 1) (debug t))
  (let ((file (make-symbol "file")))
    `(let ((,file (expand-file-name "porcelain" pwnm-tests--tmp)))
       (unwind-protect
	   (progn
	     (with-temp-file ,file (insert ,text))
	     ,@body)
	 (with-temp-file ,file (insert "user maint\n"))))))

(defmacro pwnm-tests--count-tag-calls (var &rest body)
  "Run BODY counting the calls of `notmuch-tag' in VAR."
  (declare (indent 1) (debug t))
  (let ((advice (make-symbol "advice")))
    `(let ((,advice (lambda (&rest _) (setq ,var (1+ ,var)))))
       (advice-add 'notmuch-tag :before ,advice)
       (unwind-protect (progn ,@body)
	 (advice-remove 'notmuch-tag ,advice)))))

(defun pwnm-tests--hello-text ()
  "Return the text of notmuch-hello made of the Patchwork section only."
  (let ((notmuch-hello-sections (list #'pwnm-hello-insert-section))
	(notmuch-hello-hidden-sections nil)
	(notmuch-hello-auto-refresh nil))
    (notmuch-hello)
    (prog1 (buffer-substring-no-properties (point-min) (point-max))
      (kill-buffer))))

(defun pwnm-tests--group (text heading)
  "Return the entries under HEADING in the hello TEXT.
The result is a sorted list of (LABEL . COUNT); HEADING nil means
the entries before the first project heading."
  (let ((lines (split-string text "\n"))
	(in (null heading))
	(entries nil))
    ;; Skip the title and the blank line.
    (while (and lines
		(not (if heading
			 (string-match-p
			  (concat "^[ \t]+" (regexp-quote heading) "$")
			  (car lines))
		       (string-match-p "^[ \t]*[0-9]" (car lines)))))
      (setq lines (cdr lines)))
    (when (and heading lines)
      (setq lines (cdr lines)
	    in t))
    (while (and in lines (string-match-p "^[ \t]+[0-9]" (car lines)))
      (let ((line (car lines))
	    (start 0))
	(while (string-match "\\([0-9]+\\) \\(action needed\\|delegated to me\\|queued pushes\\|[^ ]+\\)"
			     line start)
	  (push (cons (match-string 2 line)
		      (string-to-number (match-string 1 line)))
		entries)
	  (setq start (match-end 0))))
      (setq lines (cdr lines)))
    (sort entries (lambda (a b) (string< (car a) (car b))))))

(defun pwnm-tests--sorted (alist)
  "Return ALIST sorted by key."
  (sort (copy-sequence alist) (lambda (a b) (string< (car a) (car b)))))

;;; The hello section

(ert-deftest pwnm-hello-section-counts ()
  (let ((text (pwnm-tests--hello-text)))
    (should (string-match-p "\\`Patchwork: \\[hide\\]\n" text))
    ;; pw/conflict comes before the projects; pw/denied has no mail.
    (should (equal (pwnm-tests--group text nil) '(("conflict" . 1))))
    ;; a3 is new but archived: counted under "archived" only.
    (should (equal (pwnm-tests--group text "alpha")
		   (pwnm-tests--sorted
		    '(("action needed" . 2) ("delegated to me" . 1) ("new" . 1)
		      ("under-review" . 1) ("accepted" . 1) ("queued" . 1)
		      ("archived" . 1)))))
    (should (equal (pwnm-tests--group text "beta")
		   (pwnm-tests--sorted
		    '(("action needed" . 1) ("new" . 1) ("accepted" . 1)))))
    ;; alpha comes before beta.
    (should (< (string-match "^[ \t]+alpha$" text)
	       (string-match "^[ \t]+beta$" text)))))

(ert-deftest pwnm-hello-section-archived-shown ()
  (let* ((pwnm-hide-archived nil)
	 (text (pwnm-tests--hello-text)))
    (should (equal (pwnm-tests--group text "alpha")
		   (pwnm-tests--sorted
		    '(("action needed" . 2) ("delegated to me" . 1) ("new" . 2)
		      ("under-review" . 1) ("accepted" . 1) ("queued" . 1)
		      ("archived" . 1)))))))

(ert-deftest pwnm-hello-section-custom-action-states ()
  (let* ((pwnm-action-states '("queued" "new"))
	 (text (pwnm-tests--hello-text)))
    (should (equal (cdr (assoc "action needed" (pwnm-tests--group text "alpha")))
		   2))
    (should (equal (cdr (assoc "action needed" (pwnm-tests--group text "beta")))
		   1))))

(ert-deftest pwnm-hello-section-hides-empty-entries ()
  (pwnm-tests--with-db
    (pwnm-tests--notmuch "tag" "+pw/alpha/archived" "--" "tag:pw/alpha")
    (pwnm-tests--notmuch "tag" "-pw/conflict" "+pw/denied" "--" "id:a4@example.org")
    (let ((text (pwnm-tests--hello-text)))
      (should (equal (pwnm-tests--group text nil) '(("denied" . 1))))
      (should (equal (pwnm-tests--group text "alpha") '(("archived" . 5))))
      (should (equal (length (pwnm-tests--group text "beta")) 3)))))

(ert-deftest pwnm-hello-section-absent-without-pw-tags ()
  (pwnm-tests--with-db
    (let ((changes (mapcar (lambda (tag) (concat "-" tag))
			   (pwnm--pw-tags (pwnm--all-tags)))))
      (should changes)
      (apply #'pwnm-tests--notmuch "tag" (append changes (list "--" "*"))))
    (should (equal (pwnm--pw-tags (pwnm--all-tags)) nil))
    ;; Before the first sync: one line saying what to do.
    (should (equal (pwnm-tests--hello-text)
		   (concat "Patchwork: no patch tagged yet; run \"pwnm sync\" once"
			   " (see pwnm(1))\n\n")))
    (should (equal (pwnm-saved-searches) nil))
    (should-error (pwnm-jump-search) :type 'user-error)
    (should (equal (pwnm-saved-searches) nil))
    ;; With the stock sections the page is drawn, without ours.
    (let ((notmuch-hello-sections (list #'notmuch-hello-insert-saved-searches
					#'pwnm-hello-insert-section
					#'notmuch-hello-insert-footer)))
      (notmuch-hello)
      (should (string-match-p "Saved searches" (buffer-string)))
      (should (string-match-p "^Patchwork: no patch tagged yet" (buffer-string)))
      (kill-buffer))))

(ert-deftest pwnm-hello-section-button-runs-search ()
  (let ((notmuch-hello-sections (list #'pwnm-hello-insert-section))
	(notmuch-hello-hidden-sections nil)
	(searched nil))
    (notmuch-hello)
    (goto-char (point-min))
    (should (re-search-forward "[0-9] \\(queued\\)" nil t))
    (goto-char (match-beginning 1))
    (cl-letf (((symbol-function 'notmuch-search)
	       (lambda (query &rest _) (setq searched query))))
      (widget-button-press (point)))
    (kill-buffer)
    (should (equal searched
		   (concat "tag:pw/alpha/queued and not tag:pw/alpha/archived"
			   " and not tag:pw/alpha/series/cover")))
    (should (equal (notmuch-saved-search-count searched) "1"))))

(ert-deftest pwnm-hello-section-hide-button ()
  (let ((notmuch-hello-sections (list #'pwnm-hello-insert-section))
	(notmuch-hello-hidden-sections nil))
    (notmuch-hello)
    (goto-char (point-min))
    (should (search-forward "[hide]" nil t))
    (widget-button-press (- (point) 2))
    (should (member "Patchwork" notmuch-hello-hidden-sections))
    (should (equal (buffer-substring-no-properties (point-min) (point-max))
		   "Patchwork: [show]\n\n"))
    (kill-buffer)))

;;; Saved searches

(ert-deftest pwnm-saved-searches-plists ()
  (let ((na " and not tag:pw/alpha/archived and not tag:pw/alpha/series/cover")
	(nb " and not tag:pw/beta/archived and not tag:pw/beta/series/cover")
	(ng " and not tag:pw/gamma/archived and not tag:pw/gamma/series/cover")
	(da " and not tag:pw/alpha/archived"))
    (should
     (equal
      (pwnm-saved-searches)
      `((:name "pw/conflict" :query "tag:pw/conflict" :key "pC")
	(:name "alpha: action needed"
	       :query ,(concat "tag:pw/alpha and (tag:pw/alpha/new"
			       " or tag:pw/alpha/under-review)" na)
	       :key "paa")
	(:name "alpha: delegated to me"
	       :query ,(concat "tag:pw/alpha/delegate/maint" da) :key "pam")
	(:name "alpha: new" :query ,(concat "tag:pw/alpha/new" na) :key "pan")
	(:name "alpha: under-review"
	       :query ,(concat "tag:pw/alpha/under-review" na) :key "pau")
	(:name "alpha: accepted"
	       :query ,(concat "tag:pw/alpha/accepted" na) :key "pac")
	(:name "alpha: queued" :query ,(concat "tag:pw/alpha/queued" na)
	       :key "paq")
	(:name "alpha: archived" :query "tag:pw/alpha/archived" :key "pav")
	(:name "beta: action needed"
	       :query ,(concat "tag:pw/beta and (tag:pw/beta/new"
			       " or tag:pw/beta/under-review)" nb)
	       :key "pba")
	(:name "beta: new" :query ,(concat "tag:pw/beta/new" nb) :key "pbn")
	(:name "beta: accepted" :query ,(concat "tag:pw/beta/accepted" nb)
	       :key "pbc")
	(:name "gamma: action needed"
	       :query ,(concat "tag:pw/gamma and (tag:pw/gamma/new"
			       " or tag:pw/gamma/under-review)" ng)
	       :key "pga")
	(:name "gamma: new" :query ,(concat "tag:pw/gamma/new" ng) :key "pgn"))))))

(ert-deftest pwnm-saved-searches-queries-count ()
  (let ((by-key (mapcar (lambda (s) (cons (plist-get s :key)
					  (notmuch-saved-search-count
					   (plist-get s :query))))
			(pwnm-saved-searches))))
    (should (equal (cdr (assoc "paa" by-key)) "2"))
    (should (equal (cdr (assoc "pan" by-key)) "1"))
    (should (equal (cdr (assoc "pav" by-key)) "1"))
    (should (equal (cdr (assoc "pam" by-key)) "1"))
    (should (equal (cdr (assoc "pba" by-key)) "1"))
    (should (equal (cdr (assoc "pC" by-key)) "1"))))

(ert-deftest pwnm-saved-searches-no-keys ()
  (let ((pwnm-jump-prefix nil))
    (should (cl-notany (lambda (s) (plist-member s :key))
		       (pwnm-saved-searches)))))

;;; What notmuch-show draws

(defun pwnm-tests--show-headers ()
  "Return the header line of each message in the show buffer, in order."
  (let (lines)
    (save-excursion
      (goto-char (point-min))
      (while (progn
	       (goto-char (notmuch-show-message-top))
	       (push (buffer-substring-no-properties (point) (line-end-position))
		     lines)
	       (notmuch-show-goto-message-next))))
    (nreverse lines)))

(defmacro pwnm-tests--with-formats (&rest body)
  "Run BODY with `pwnm-enable' in effect, then undo it."
  (declare (indent 0) (debug t))
  `(let ((notmuch-tag-formats (copy-sequence notmuch-tag-formats))
	 (notmuch-after-tag-hook nil)
	 (notmuch-hello-sections (copy-sequence notmuch-hello-sections)))
     (unwind-protect
	 (progn (pwnm-enable)
		(setq notmuch-after-tag-hook nil)
		,@body)
       (notmuch-tag-clear-cache))))

(ert-deftest pwnm-show-draws-tag-edit-on-its-message ()
  ;; The thread of a1 shows a1, then its reply r1; make r1 a patch too
  ;; and set its state from the show buffer.
  (pwnm-tests--with-db
    (pwnm-tests--notmuch "tag" "+pw/alpha" "+pw/alpha/new" "--" "id:r1@example.org")
    (pwnm-tests--with-formats
      (let ((pwnm-command pwnm-tests--stub-ok))
	(notmuch-show "id:a1@example.org")
	(let ((before (pwnm-tests--show-headers)))
	  (should (= (length before) 2))
	  (should (string-match-p "(.*alpha:new.*)$" (nth 0 before)))
	  (should (string-match-p "\\` *Re Viewer .*(.*alpha:new.*)$" (nth 1 before)))
	  (goto-char (point-min))
	  (notmuch-show-goto-message-next)
	  (should (equal (notmuch-show-get-message-id t) "r1@example.org"))
	  (pwnm-set-state "accepted" "alpha")
	  (let ((after (pwnm-tests--show-headers)))
	    ;; The first message's line is untouched, character for character.
	    (should (equal (nth 0 after) (nth 0 before)))
	    ;; The edited one shows its new state, after its own author.
	    (should (string-match-p "\\` *Re Viewer <rev@example.org> " (nth 1 after)))
	    (should (string-match-p "(.*alpha:accepted.*)$" (nth 1 after)))
	    (should (= (length after) 2)))
	  ;; The same through notmuch's own tag command.
	  (goto-char (point-min))
	  (notmuch-show-tag '("+pw/alpha/rfc" "-pw/alpha/new"))
	  (let ((after (pwnm-tests--show-headers)))
	    (should (string-match-p "\\` *Dev Eloper <dev@example.org> " (nth 0 after)))
	    (should (string-match-p "(.*alpha:rfc.*)$" (nth 0 after)))
	    (should (string-match-p "\\` *Re Viewer <rev@example.org> .*alpha:accepted"
				    (nth 1 after)))))))))

;;; Setting the state

(ert-deftest pwnm-set-state-show ()
  (pwnm-tests--with-db
    (let ((pwnm-command pwnm-tests--stub-ok)
	  (notmuch-after-tag-hook nil)
	  (calls 0))
      (notmuch-show "id:a1@example.org")
      (goto-char (point-min))
      (should (equal (notmuch-show-get-message-id t) "a1@example.org"))
      (let ((messages nil))
	(pwnm-tests--capture-messages messages
	  (pwnm-tests--count-tag-calls calls
	    (pwnm-set-state "accepted" "alpha")))
	(should (equal messages '("pwnm: alpha: 1 patch accepted"))))
      (should (= calls 1))
      (should (equal (pwnm-tests--pw-tags "a1@example.org")
		     '("pw/alpha" "pw/alpha/accepted")))
      (should (equal (pwnm-tests--pw-tags "r1@example.org") nil))
      (should (equal (pwnm-tests--pw-tags "a3@example.org")
		     '("pw/alpha" "pw/alpha/archived" "pw/alpha/new")))
      ;; The buffer shows it, and the change is in the undo history.
      (should (member "pw/alpha/accepted" (notmuch-show-get-tags)))
      (should-not (member "pw/alpha/new" (notmuch-show-get-tags)))
      (should (equal (plist-get (car notmuch-tag-history) :tag-changes)
		     '("+pw/alpha/accepted" "-pw/alpha/new")))
      (notmuch-tag-undo)
      (should (equal (pwnm-tests--pw-tags "a1@example.org")
		     '("pw/alpha" "pw/alpha/new"))))))

(ert-deftest pwnm-set-state-other-project-untouched ()
  (pwnm-tests--with-db
    (let ((pwnm-command pwnm-tests--stub-ok)
	  (notmuch-after-tag-hook nil)
	  (offered nil))
      (notmuch-show "id:x1@example.org")
      (goto-char (point-min))
      ;; A mail that is a patch in two projects: ask which one.
      (cl-letf (((symbol-function 'completing-read)
		 (lambda (_prompt collection &rest _)
		   (setq offered collection)
		   "beta")))
	(pwnm-set-state "changes-requested"))
      (should (equal offered '("alpha" "beta")))
      (should (equal (pwnm-tests--pw-tags "x1@example.org")
		     '("pw/alpha" "pw/alpha/accepted"
		       "pw/beta" "pw/beta/changes-requested"))))))

(ert-deftest pwnm-set-state-interactive ()
  (pwnm-tests--with-db
    (let ((pwnm-command pwnm-tests--stub-ok)
	  (notmuch-after-tag-hook nil)
	  (offered nil))
      (notmuch-show "id:a4@example.org")
      (goto-char (point-min))
      (cl-letf (((symbol-function 'completing-read)
		 (lambda (_prompt collection &rest _)
		   (setq offered collection)
		   "handled-elsewhere")))
	(call-interactively #'pwnm-set-state))
      ;; Offered: seen in the database, listed by the program, defaults.
      (dolist (state '("queued" "accepted" "handled-elsewhere" "rfc" "new"))
	(should (member state offered)))
      (should-not (member "archived" offered))
      (should (equal offered (delete-dups (copy-sequence offered))))
      (should (equal (pwnm-tests--pw-tags "a4@example.org")
		     '("pw/alpha" "pw/alpha/handled-elsewhere" "pw/conflict"))))))

(ert-deftest pwnm-set-state-search-thread ()
  (pwnm-tests--with-db
    (let ((pwnm-command pwnm-tests--stub-ok)
	  (notmuch-after-tag-hook nil))
      ;; The thread of a1 holds the patch and a reply without pw tags.
      (notmuch-search "id:r1@example.org")
      (pwnm-tests--wait-buffer (current-buffer))
      (goto-char (point-min))
      (should (equal (notmuch-search-find-thread-id)
		     (concat "thread:"
			     (string-trim
			      (pwnm-tests--notmuch "search" "--output=threads"
						   "id:a1@example.org")
			      "thread:"))))
      (pwnm-set-state "under-review" "alpha")
      (should (equal (pwnm-tests--pw-tags "a1@example.org")
		     '("pw/alpha" "pw/alpha/under-review")))
      (should (equal (pwnm-tests--pw-tags "r1@example.org") nil))
      (should (member "pw/alpha/under-review" (notmuch-search-get-tags)))
      (should-not (member "pw/alpha/new" (notmuch-search-get-tags))))))

(ert-deftest pwnm-set-state-tree ()
  (pwnm-tests--with-db
    (let ((pwnm-command pwnm-tests--stub-ok)
	  (notmuch-after-tag-hook nil))
      (notmuch-tree "id:a2@example.org")
      (pwnm-tests--wait-buffer (current-buffer))
      (goto-char (point-min))
      (should (equal (notmuch-tree-get-message-id t) "a2@example.org"))
      (pwnm-set-state "accepted" "alpha")
      ;; The delegate tag is not a state: it stays.
      (should (equal (pwnm-tests--pw-tags "a2@example.org")
		     '("pw/alpha" "pw/alpha/accepted" "pw/alpha/delegate/maint")))
      (should (member "pw/alpha/accepted" (notmuch-tree-get-tags))))))

(ert-deftest pwnm-set-state-no-op-and-errors ()
  (pwnm-tests--with-db
    (let ((pwnm-command pwnm-tests--stub-ok)
	  (notmuch-after-tag-hook nil)
	  (calls 0))
      (notmuch-show "id:a1@example.org")
      (goto-char (point-min))
      (pwnm-tests--count-tag-calls calls
	(pwnm-set-state "new" "alpha"))
      (should (= calls 0))
      (should-error (pwnm-set-state "archived" "alpha") :type 'user-error)
      (should-error (pwnm-set-state "a/b" "alpha") :type 'user-error)
      (should-error (pwnm-set-state "new" "beta") :type 'user-error)
      (should (equal (pwnm-tests--pw-tags "a1@example.org")
		     '("pw/alpha" "pw/alpha/new")))
      (notmuch-show "id:n1@example.org")
      (goto-char (point-min))
      (should-error (pwnm-set-state "new") :type 'user-error)
      (with-temp-buffer
	(should-error (pwnm-set-state "new" "alpha") :type 'user-error)))))

(ert-deftest pwnm-known-states ()
  (pwnm-tests--stub-log)
  (let ((pwnm-command pwnm-tests--stub-ok))
    (let ((states (pwnm--known-states "alpha")))
      (dolist (state '("new" "under-review" "accepted" "queued"
		       "handled-elsewhere" "rfc" "superseded"))
	(should (member state states)))
      (should-not (member "archived" states)))
    (should (equal (pwnm-tests--stub-log) '("states alpha"))))
  (let ((pwnm-command pwnm-tests--stub-fail))
    (let ((states (pwnm--known-states "alpha")))
      (should (member "queued" states))
      (should (member "rfc" states))
      (should-not (member "handled-elsewhere" states))))
  (pwnm-tests--stub-log)
  (let ((pwnm-command "/nonexistent/notmuch-pwnm"))
    (should (member "queued" (pwnm--known-states "alpha")))))

;;; Browsing

(ert-deftest pwnm-browse-patch-urls ()
  (let ((pwnm-command pwnm-tests--stub-ok)
	(browsed nil))
    (pwnm-tests--stub-log)
    (unwind-protect
	(cl-letf (((symbol-function 'browse-url)
		   (lambda (url &rest _) (setq browsed url))))
	  (notmuch-show "id:a1@example.org")
	  (goto-char (point-min))
	  (pwnm-browse-patch)
	  (should (equal browsed
			 "https://pw.example.org/project/alpha/patch/a1@example.org/"))
	  (should (equal (pwnm-tests--stub-log)
			 '("explain --url --project alpha a1@example.org")))
	  ;; Two projects: choose one by its name.
	  (notmuch-show "id:x1@example.org")
	  (goto-char (point-min))
	  (let (offered prompt)
	    (cl-letf (((symbol-function 'completing-read)
		       (lambda (p collection &rest _)
			 (setq offered collection prompt p)
			 (nth 1 collection))))
	      (pwnm-browse-patch))
	    (should (equal offered '("alpha" "beta")))
	    (should (equal prompt "Project (default alpha): ")))
	  (should (equal browsed
			 "https://pw.example.org/project/beta/patch/x1@example.org/"))
	  (should (equal (pwnm-tests--stub-log)
			 '("explain --url --project beta x1@example.org")))
	  ;; In a search buffer: the patch of the thread, not the reply.
	  (notmuch-search "id:r1@example.org")
	  (pwnm-tests--wait-buffer (current-buffer))
	  (goto-char (point-min))
	  (setq browsed nil)
	  (pwnm-browse-patch)
	  (should (equal browsed
			 "https://pw.example.org/project/alpha/patch/a1@example.org/")))
      (pwnm-tests--kill-buffers))))

(ert-deftest pwnm-browse-patch-failure ()
  (let ((pwnm-command pwnm-tests--stub-fail)
	(browsed nil))
    (unwind-protect
	(cl-letf (((symbol-function 'browse-url)
		   (lambda (url &rest _) (setq browsed url))))
	  (notmuch-show "id:a1@example.org")
	  (goto-char (point-min))
	  (let ((err (should-error (pwnm-browse-patch) :type 'user-error)))
	    (should (string-match-p "server said no" (cadr err))))
	  (should-not browsed))
      (pwnm-tests--stub-log)
      (pwnm-tests--kill-buffers))))

;;; Pushing after tagging

(ert-deftest pwnm-after-tag-pushes ()
  (pwnm-tests--with-db
    (let ((pwnm-command pwnm-tests--stub-ok)
	  (notmuch-after-tag-hook (list #'pwnm--after-tag))
	  (messages nil))
      (pwnm-tests--stub-log)
      (pwnm-tests--capture-messages messages
	;; Not a pw/ tag: nothing runs.
	(notmuch-tag "id:b1@example.org" '("+todo"))
	(should-not pwnm--push-process)
	(notmuch-tag "id:b1@example.org" '("+pw/beta/new" "-pw/beta/accepted"))
	;; Started in the background: notmuch-tag did not wait for it.
	(should (process-live-p pwnm--push-process))
	(should (equal (process-command pwnm--push-process)
		       (list pwnm-tests--stub-ok "push" "--quick")))
	(pwnm-tests--wait-push))
      (should (equal (pwnm-tests--stub-log) '("push --quick")))
      (should (member "pwnm: pushed (pushed 1 change)" messages))
      (should (equal (pwnm-tests--pw-tags "b1@example.org")
		     '("pw/beta" "pw/beta/new"))))))

(ert-deftest pwnm-after-tag-one-at-a-time ()
  (pwnm-tests--with-db
    (let ((pwnm-command pwnm-tests--stub-ok)
	  (notmuch-after-tag-hook (list #'pwnm--after-tag))
	  (process-environment (cons "PWNM_STUB_SLEEP=0.5" process-environment))
	  (messages nil))
      (pwnm-tests--stub-log)
      (pwnm-tests--capture-messages messages
	(notmuch-tag "id:b1@example.org" '("+pw/beta/new" "-pw/beta/accepted"))
	(let ((first pwnm--push-process))
	  (notmuch-tag "id:b1@example.org" '("-pw/beta/new" "+pw/beta/rfc"))
	  (notmuch-tag "id:a1@example.org" '("-pw/alpha/new" "+pw/alpha/rfc"))
	  (should (eq pwnm--push-process first)))
	(pwnm-tests--wait-push))
      ;; One run, then one more for the changes made meanwhile.
      (should (equal (pwnm-tests--stub-log) '("push --quick" "push --quick")))
      (should (= (cl-count "pwnm: pushed (pushed 1 change)" messages
			   :test #'equal)
		 2)))))

(defun pwnm-tests--failed-push-messages (command)
  "Tag b1 with the after-tag hook pushing through COMMAND, which fails.
Check that one push ran and the tagging went through; return the
echo area messages, newest first."
  (let ((pwnm-command command)
	(notmuch-after-tag-hook (list #'pwnm--after-tag))
	(messages nil))
    (pwnm-tests--stub-log)
    (pwnm-tests--capture-messages messages
      (notmuch-tag "id:b1@example.org" '("-pw/beta/accepted" "+pw/beta/rfc"))
      (pwnm-tests--wait-push))
    (should (equal (pwnm-tests--stub-log) '("push --quick")))
    (should (equal (pwnm-tests--pw-tags "b1@example.org")
		   '("pw/beta" "pw/beta/rfc")))
    messages))

(ert-deftest pwnm-after-tag-push-fails ()
  (pwnm-tests--with-db
    (should (member "pwnm: push failed: server said no"
		    (pwnm-tests--failed-push-messages pwnm-tests--stub-fail)))))

(ert-deftest pwnm-after-tag-program-missing ()
  (pwnm-tests--with-db
    (let ((pwnm-command "/nonexistent/notmuch-pwnm")
	  (notmuch-after-tag-hook (list #'pwnm--after-tag))
	  (messages nil))
      (pwnm-tests--capture-messages messages
	;; Reported at once or by the sentinel, never signalled.
	(notmuch-tag "id:b1@example.org" '("-pw/beta/accepted" "+pw/beta/rfc"))
	(pwnm-tests--wait-push))
      (should (cl-some (lambda (m) (string-prefix-p "pwnm: push failed: " m))
		       messages)))))

;;; Tag formats, enable, disable, keys

(ert-deftest pwnm-tag-formats ()
  (let ((notmuch-tag-formats (copy-sequence notmuch-tag-formats))
	(notmuch-after-tag-hook nil)
	(notmuch-hello-sections (copy-sequence notmuch-hello-sections))
	(tags '("inbox" "pw/alpha" "pw/alpha/new" "pw/alpha/delegate/maint"
		"pw/alpha/archived" "pw/conflict" "pw/denied")))
    (unwind-protect
	(progn
	  (pwnm-enable)
	  (should (equal (notmuch-tag-format-tag tags tags "pw/alpha/new")
			 "alpha:new"))
	  (should (equal (notmuch-tag-format-tag tags tags "pw/alpha") nil))
	  (should (equal (notmuch-tag-format-tag tags tags "pw/alpha/delegate/maint")
			 "alpha:@maint"))
	  (should (equal (notmuch-tag-format-tag tags tags "pw/alpha/archived")
			 "alpha:archived"))
	  (should (equal (notmuch-tag-format-tag tags tags "inbox") "inbox"))
	  (let ((conflict (notmuch-tag-format-tag tags tags "pw/conflict"))
		(denied (notmuch-tag-format-tag tags tags "pw/denied")))
	    (should (equal (substring-no-properties conflict) "pw/conflict"))
	    (should (eq (get-text-property 0 'face conflict) 'pwnm-conflict-face))
	    (should (eq (get-text-property 0 'face denied) 'pwnm-denied-face)))
	  (should (equal (substring-no-properties
			  (notmuch-tag-format-tags '("pw/alpha" "pw/alpha/new" "inbox")
						   '("pw/alpha" "pw/alpha/new" "inbox")))
			 "inbox alpha:new"))
	  (pwnm-disable)
	  (should (equal (notmuch-tag-format-tag tags tags "pw/alpha/new")
			 "pw/alpha/new"))
	  (should (equal (notmuch-tag-format-tag tags tags "pw/alpha") "pw/alpha")))
      (notmuch-tag-clear-cache))))

(ert-deftest pwnm-enable-disable ()
  (let ((notmuch-tag-formats (copy-sequence notmuch-tag-formats))
	(notmuch-after-tag-hook nil)
	(notmuch-hello-sections (list #'notmuch-hello-insert-header
				      #'notmuch-hello-insert-saved-searches
				      #'notmuch-hello-insert-footer)))
    (unwind-protect
	(progn
	  (pwnm-enable)
	  (pwnm-enable)
	  (should (equal notmuch-after-tag-hook (list #'pwnm--after-tag)))
	  (should (equal notmuch-hello-sections
			 (list #'notmuch-hello-insert-header
			       #'notmuch-hello-insert-saved-searches
			       #'pwnm-hello-insert-section
			       #'notmuch-hello-insert-footer)))
	  (should (= (cl-count "pw/[^/]+" notmuch-tag-formats
			       :key #'car :test #'equal)
		     1))
	  (pwnm-disable)
	  (should (equal notmuch-after-tag-hook nil))
	  (should (equal notmuch-hello-sections
			 (list #'notmuch-hello-insert-header
			       #'notmuch-hello-insert-saved-searches
			       #'notmuch-hello-insert-footer)))
	  (should-not (assoc "pw/[^/]+" notmuch-tag-formats)))
      (notmuch-tag-clear-cache))))

(ert-deftest pwnm-loading-has-no-side-effects ()
  (should-not (memq #'pwnm--after-tag (default-value 'notmuch-after-tag-hook)))
  (should-not (memq #'pwnm-hello-insert-section
		    (default-value 'notmuch-hello-sections)))
  (should-not (assoc "pw/[^/]+" (default-value 'notmuch-tag-formats))))

(ert-deftest pwnm-keys ()
  (should-not (eq (lookup-key notmuch-show-mode-map (kbd "C-c p s")) #'pwnm-set-state))
  (pwnm-setup-keys)
  (dolist (map (list notmuch-search-mode-map notmuch-tree-mode-map
		     notmuch-show-mode-map))
    (should (eq (lookup-key map (kbd "C-c p s")) #'pwnm-set-state))
    (should (eq (lookup-key map (kbd "C-c p w")) #'pwnm-browse-patch)))
  ;; Stock bindings stay.
  (should (eq (lookup-key notmuch-search-mode-map "+") #'notmuch-search-add-tag)))

(defun pwnm-tests--label-columns ()
  "Return, for each line of the current hello buffer, the label columns.
The result is a list of lists of the columns at which the labels of
the Patchwork entries on that line start."
  (let (lines)
    (save-excursion
      (goto-char (point-min))
      (while (not (eobp))
	(let (columns)
	  (while (re-search-forward "[0-9] \\([^ \n]\\)" (line-end-position) t)
	    (goto-char (match-beginning 1))
	    (when (widget-at)
	      (push (current-column) columns))
	    (goto-char (match-end 0)))
	  (when columns
	    (push (nreverse columns) lines)))
	(forward-line)))
    (nreverse lines)))

(ert-deftest pwnm-hello-section-aligned ()
  (let ((notmuch-hello-sections (list #'pwnm-hello-insert-section))
	(notmuch-hello-hidden-sections nil))
    (notmuch-hello)
    (let* ((lines (pwnm-tests--label-columns))
	   (widest (car (sort (copy-sequence lines)
			      (lambda (a b) (> (length a) (length b)))))))
      ;; conflict, 4 lines of alpha, 2 of beta, 1 of gamma.
      (should (>= (length lines) 5))
      (should (> (length widest) 1))
      ;; Every line's labels start in the columns of the widest line,
      ;; whichever project it belongs to.
      (dolist (line lines)
	(should (equal line (cl-subseq widest 0 (length line))))))
    ;; No line ends in blanks.
    (should-not (string-match-p "[ \t]$" (buffer-string)))
    (kill-buffer)))

(defun pwnm-tests--open-entry (label buffer-name)
  "Draw notmuch-hello, press the entry LABEL and wait for its search.
The search buffer must be named BUFFER-NAME; it is left current."
  (let ((notmuch-hello-sections (list #'pwnm-hello-insert-section))
	(notmuch-hello-hidden-sections nil))
    (notmuch-hello)
    (goto-char (point-min))
    ;; The label, then the padding before the next entry or the end of the line.
    (should (re-search-forward (concat "[0-9] \\(" (regexp-quote label) "\\)\\(  \\|$\\)")
			       nil t))
    (widget-button-press (match-beginning 1))
    (should (derived-mode-p 'notmuch-search-mode))
    (should (equal (buffer-name) buffer-name))
    (pwnm-tests--wait-buffer (current-buffer))))

(ert-deftest pwnm-hello-search-is-named ()
  (let ((notmuch-hello-sections (list #'pwnm-hello-insert-section))
	(notmuch-hello-hidden-sections nil))
    (unwind-protect
	(progn
	  (pwnm-tests--open-entry "queued" "*notmuch-saved-search-alpha: queued*")
	  (should (equal (notmuch-search-find-thread-id)
			 (string-trim (pwnm-tests--notmuch
				       "search" "--output=threads"
				       "id:a4@example.org"))))
	  ;; The project heading opens all its patches, named too.
	  (notmuch-hello)
	  (goto-char (point-min))
	  (should (re-search-forward "^[ \t]+\\(beta\\)$" nil t))
	  (widget-button-press (match-beginning 1))
	  (should (equal (buffer-name) "*notmuch-saved-search-beta*"))
	  (pwnm-tests--wait-buffer (current-buffer)))
      (pwnm-tests--kill-buffers))))

(defvar pwnm-tests--stock-saved-searches notmuch-saved-searches
  "The saved searches of notmuch, as notmuch-emacs sets them.")

(ert-deftest pwnm-hello-both-snippets-no-duplicates ()
  (let ((notmuch-saved-searches (append pwnm-tests--stock-saved-searches
					(pwnm-saved-searches)))
	(notmuch-hello-sections (default-value 'notmuch-hello-sections))
	(notmuch-hello-hidden-sections nil))
    (pwnm-tests--with-formats
      (pwnm-enable)
      (notmuch-hello)
      (let ((text (buffer-substring-no-properties (point-min) (point-max))))
	(dolist (search (pwnm-saved-searches))
	  (should (= (cl-count-if
		      (lambda (line) (string-match-p
				      (regexp-quote (plist-get search :name)) line))
		      (split-string text "\n"))
		     1)))
	;; Every entry is among the saved searches: no Patchwork section.
	(should-not (string-match-p "^Patchwork: " text))
	(should (string-match-p "alpha: queued" text)))
      (kill-buffer)
      ;; With pwnm-enable alone, the section shows them.
      (let ((notmuch-saved-searches pwnm-tests--stock-saved-searches))
	(notmuch-hello)
	(let ((text (buffer-substring-no-properties (point-min) (point-max))))
	  (should (string-match-p "^Patchwork: \\[hide\\]" text))
	  (should-not (string-match-p "alpha: queued" text))
	  (should (= (cl-count-if (lambda (line) (string-match-p "[0-9] queued$\\|[0-9] queued " line))
				  (split-string text "\n"))
		     1)))
	(kill-buffer)))))

(ert-deftest pwnm-hello-delegated-to-me ()
  ;; pwnm says the account is maint; a2 is delegated to maint.
  (pwnm-tests--stub-log)
  (should (equal (pwnm--user (pwnm--porcelain)) "maint"))
  (should (equal (pwnm-tests--stub-log) '("status --porcelain")))
  (should (string-match-p " 1 delegated to me$" (pwnm-tests--hello-text)))
  (let ((pwnm-user "someone-else"))
    (should-not (assoc "delegated to me"
		       (pwnm-tests--group (pwnm-tests--hello-text) "alpha"))))
  ;; pwnm knows no account: no guess from notmuch's addresses
  ;; (maint@example.org is user.primary_email).
  (pwnm-tests--with-porcelain ""
    (should-not (pwnm--user (pwnm--porcelain)))
    (should-not (assoc "delegated to me"
		       (pwnm-tests--group (pwnm-tests--hello-text) "alpha"))))
  (let ((pwnm-command pwnm-tests--stub-fail))
    (should-not (assoc "delegated to me"
		       (pwnm-tests--group (pwnm-tests--hello-text) "alpha"))))
  (pwnm-tests--with-db
    (pwnm-tests--notmuch "tag" "-pw/alpha/delegate/maint" "+pw/alpha/delegate/jo"
			 "--" "id:a2@example.org")
    (should-not (assoc "delegated to me"
		       (pwnm-tests--group (pwnm-tests--hello-text) "alpha")))
    (pwnm-tests--with-porcelain "user jo\n"
      (should (equal (cdr (assoc "delegated to me"
				 (pwnm-tests--group (pwnm-tests--hello-text) "alpha")))
		     1)))
    (let ((pwnm-user "jo"))
      (should (equal (cdr (assoc "delegated to me"
				 (pwnm-tests--group (pwnm-tests--hello-text) "alpha")))
		     1)))))

(ert-deftest pwnm-hello-queued-pushes ()
  ;; Three changes wait, two of them for x1 (one per project).
  (pwnm-tests--with-porcelain
      (concat "user maint\n"
	      "queued alpha a1@example.org waiting\n"
	      "queued alpha x1@example.org held\n"
	      "queued beta x1@example.org token\n")
    (let ((text (pwnm-tests--hello-text)))
      (should (equal (pwnm-tests--group text nil)
		     '(("conflict" . 1) ("queued pushes" . 2))))
      ;; Beside the conflicts, before the projects, in the same columns.
      (should (string-match-p "\\`Patchwork: \\[hide\\]\n\n[ \t]+1 conflict +2 queued pushes\n[ \t]+alpha\n"
			      text)))
    (let ((search (cl-find "queued pushes" (pwnm-saved-searches)
			   :key (lambda (s) (plist-get s :name)) :test #'equal)))
      (should (equal (plist-get search :key) "pQ"))
      (should (equal (plist-get search :query) "id:a1@example.org or id:x1@example.org")))
    ;; The button opens the search of those mails, named after the entry.
    (unwind-protect
	(progn
	  (pwnm-tests--open-entry "queued pushes" "*notmuch-saved-search-queued pushes*")
	  (should (string-match-p "both: cross-posted" (buffer-string)))
	  (should (string-match-p "alpha: one" (buffer-string)))
	  (should-not (string-match-p "alpha: two" (buffer-string))))
      (pwnm-tests--kill-buffers)))
  ;; Nothing waits: no entry.
  (should-not (assoc "queued pushes" (pwnm-tests--group (pwnm-tests--hello-text) nil))))

(ert-deftest pwnm-jump-keys-stable ()
  (let ((before (mapcar (lambda (s) (cons (plist-get s :name) (plist-get s :key)))
			(pwnm-saved-searches))))
    (pwnm-tests--with-db
      ;; New states appear, action needed goes away in beta.
      (pwnm-tests--notmuch "tag" "+pw/alpha/rejected" "-pw/alpha/queued"
			   "--" "id:a4@example.org")
      (pwnm-tests--notmuch "tag" "-pw/beta/new" "+pw/beta/mainlined"
			   "--" "id:x1@example.org")
      (pwnm-tests--notmuch "tag" "+pw/beta/mergeable" "-pw/beta/accepted"
			   "--" "id:b1@example.org")
      (let ((after (mapcar (lambda (s) (cons (plist-get s :name) (plist-get s :key)))
			   (pwnm-saved-searches))))
	(dolist (entry before)
	  (when (assoc (car entry) after)
	    (should (equal (assoc (car entry) after) entry))))
	(should (equal (cdr (assoc "alpha: rejected" after)) "par"))
	;; Not in pwnm-entry-keys: the first letter of the name no listed
	;; entry has, in sorted order.
	(should (equal (cdr (assoc "beta: mainlined" after)) "pbi"))
	(should (equal (cdr (assoc "beta: mergeable" after)) "pbg"))))))

(ert-deftest pwnm-set-state-requires-a-known-state ()
  (pwnm-tests--with-db
    (let ((pwnm-command pwnm-tests--stub-ok)
	  (notmuch-after-tag-hook nil)
	  (require-match 'unset))
      (notmuch-show "id:a1@example.org")
      (goto-char (point-min))
      (cl-letf (((symbol-function 'completing-read)
		 (lambda (_prompt _collection _pred match &rest _)
		   (setq require-match match)
		   "accepted")))
	(call-interactively #'pwnm-set-state))
      (should (eq require-match t))
      (should (equal (pwnm-tests--pw-tags "a1@example.org")
		     '("pw/alpha" "pw/alpha/accepted"))))))

(ert-deftest pwnm-set-state-cover-letter ()
  (pwnm-tests--with-db
    (pwnm-tests--with-formats
      (let ((pwnm-command pwnm-tests--stub-ok)
	    (messages nil)
	    (asked nil)
	    (answer nil))
	(notmuch-show "id:s0@example.org")
	(goto-char (point-min))
	(should (equal (notmuch-show-get-message-id t) "s0@example.org"))
	(cl-letf (((symbol-function 'y-or-n-p)
		   (lambda (prompt) (push prompt asked) answer)))
	  (pwnm-tests--capture-messages messages
	    ;; Said no: nothing changes.
	    (pwnm-set-state "accepted" "gamma" t)
	    (should (equal asked '("Set 2 patches in gamma to accepted? ")))
	    (should (equal (car messages) "pwnm: gamma: nothing changed"))
	    (should (equal (pwnm-tests--pw-tags "s1@example.org")
			   '("pw/gamma" "pw/gamma/new")))
	    ;; Said yes: both patches, not the cover letter.
	    (setq answer t)
	    (pwnm-set-state "accepted" "gamma" t)
	    (should (equal (car messages) "pwnm: gamma: 2 patches accepted"))))
	(dolist (id '("s1@example.org" "s2@example.org"))
	  (should (equal (pwnm-tests--pw-tags id) '("pw/gamma" "pw/gamma/accepted"))))
	(should (equal (pwnm-tests--pw-tags "s0@example.org") nil))
	;; The show buffer draws it on the patches' own lines.
	(let ((lines (pwnm-tests--show-headers)))
	  (should (= (length lines) 3))
	  (should-not (string-match-p "gamma:" (nth 0 lines)))
	  (should (string-match-p "(.*gamma:accepted.*)$" (nth 1 lines)))
	  (should (string-match-p "(.*gamma:accepted.*)$" (nth 2 lines))))
	;; One patch: no question.
	(setq asked nil)
	(goto-char (point-min))
	(notmuch-show-goto-message-next)
	(should (equal (notmuch-show-get-message-id t) "s1@example.org"))
	(cl-letf (((symbol-function 'y-or-n-p)
		   (lambda (prompt) (push prompt asked) t)))
	  (pwnm-tests--capture-messages messages
	    (pwnm-set-state "rfc" "gamma" t)
	    (should (equal (car messages) "pwnm: gamma: 1 patch rfc"))))
	(should-not asked)
	(should (equal (pwnm-tests--pw-tags "s1@example.org") '("pw/gamma" "pw/gamma/rfc")))
	(should (equal (pwnm-tests--pw-tags "s2@example.org")
		       '("pw/gamma" "pw/gamma/accepted")))))))

(ert-deftest pwnm-set-state-project-prompt-default ()
  (pwnm-tests--with-db
    (let ((pwnm-command pwnm-tests--stub-ok)
	  (notmuch-after-tag-hook nil)
	  (prompts nil))
      (notmuch-show "id:x1@example.org")
      (goto-char (point-min))
      (cl-letf (((symbol-function 'completing-read)
		 (lambda (prompt _collection &rest _)
		   (push prompt prompts)
		   (if (string-prefix-p "Project" prompt) "alpha" "rfc"))))
	(call-interactively #'pwnm-set-state))
      (should (equal (car (last prompts)) "Project (default alpha): "))
      (should (equal (pwnm-tests--pw-tags "x1@example.org")
		     '("pw/alpha" "pw/alpha/rfc" "pw/beta" "pw/beta/new"))))))

(ert-deftest pwnm-push-stays-queued-message ()
  (pwnm-tests--with-db
    (let ((messages (pwnm-tests--failed-push-messages pwnm-tests--stub-later)))
      (should (member "pwnm: stays queued: patch 2: HTTP 503 after 4 attempts; will retry"
		      messages))
      (should-not (cl-some (lambda (m) (string-match-p "http://" m)) messages)))))

(ert-deftest pwnm-menu-and-keys ()
  (let ((offered nil))
    (cl-letf (((symbol-function 'notmuch-jump)
	       (lambda (actions prompt) (setq offered (cons prompt actions)))))
      (pwnm-menu))
    (should (equal (car offered) "pwnm: "))
    (should (equal (mapcar (lambda (a) (list (nth 0 a) (nth 1 a))) (cdr offered))
		   '(("s" "set state") ("w" "web page") ("e" "explain")
		     ("j" "jump to a search") ("p" "push now")
		     ("S" "supersede older revision"))))
    (should (cl-every (lambda (a) (functionp (nth 2 a))) (cdr offered)))
    ;; Each choice runs the command its key runs.
    (let (called)
      (cl-letf (((symbol-function 'call-interactively)
		 (lambda (command &rest _) (setq called command))))
	(funcall (nth 2 (assoc "S" (cdr offered)))))
      (should (eq called #'pwnm-supersede))
      (should (eq (lookup-key pwnm-command-map "S") #'pwnm-supersede))))
  (pwnm-setup-keys)
  (dolist (map (list notmuch-hello-mode-map notmuch-search-mode-map
		     notmuch-tree-mode-map notmuch-show-mode-map))
    (should (eq (lookup-key map (kbd "C-c p ?")) #'pwnm-menu))
    (should (eq (lookup-key map (kbd "C-c p j")) #'pwnm-jump-search))
    (should (eq (lookup-key map (kbd "C-c p e")) #'pwnm-explain))))

(ert-deftest pwnm-explain-buffer ()
  (let ((pwnm-command pwnm-tests--stub-ok))
    (pwnm-tests--stub-log)
    (unwind-protect
	(progn
	  (notmuch-show "id:a1@example.org")
	  (goto-char (point-min))
	  (pwnm-explain)
	  (should (equal (pwnm-tests--stub-log) '("explain a1@example.org")))
	  (with-current-buffer "*pwnm explain*"
	    (should (string-match-p "patch 1 in alpha: a1@example.org" (buffer-string)))))
      (when (get-buffer "*pwnm explain*") (kill-buffer "*pwnm explain*"))
      (pwnm-tests--kill-buffers))))

;;; pwnm-tests.el ends here
